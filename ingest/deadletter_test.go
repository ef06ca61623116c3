package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDeadLetterWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	d := NewDeadLetterWriter(&buf)
	d.now = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
	lines := [][]byte{[]byte(`not "a" log line`), {0x16, 0x03, 0x01, 0xff, 'x'}}
	for i, l := range lines {
		if err := d.Write("edge", Reject{Line: int64(i + 1), Reason: "nginx_combined: no [time]", Text: l}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if d.Count() != 2 {
		t.Fatalf("count %d", d.Count())
	}
	recs := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(recs) != 2 {
		t.Fatalf("%d records: %q", len(recs), buf.String())
	}
	for i, r := range recs {
		var got struct {
			Time, Source, Reason, Line string
			LineNo                     int64  `json:"line_no"`
			LineBase64                 string `json:"line_base64"`
		}
		if err := json.Unmarshal([]byte(r), &got); err != nil {
			t.Fatalf("record %d is not JSON: %v: %s", i, err, r)
		}
		if got.Source != "edge" || got.LineNo != int64(i+1) || got.Reason != "nginx_combined: no [time]" || got.Time != "2026-11-23T10:00:00Z" {
			t.Fatalf("record %d: %+v", i, got)
		}
		exact := got.Line
		if got.LineBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(got.LineBase64)
			if err != nil {
				t.Fatal(err)
			}
			exact = string(b)
		}
		if exact != string(lines[i]) {
			t.Fatalf("record %d lost bytes: %q vs %q", i, exact, lines[i])
		}
	}
}

// TestSecurityDeadLetterRedacted: a line no parser accepts still has its
// credentials redacted before the dead letter is written (on disk or to
// the dead-letter topic, which share this writer).
func TestSecurityDeadLetterRedacted(t *testing.T) {
	t.Parallel()
	const (
		jwt    = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTg4MTIifQ.c2lnbmF0dXJl"
		basic  = "YWxpY2U6d29uZGVybGFuZA=="
		apiKey = "sk_live_51Hx9KzLmNoPqRsTuVwXyZ012345"
	)
	secrets := []string{jwt, basic, apiKey, "hunter2", "opaque-abc-123", "Zm9vYmFy"}
	lines := []struct {
		name string
		text []byte
	}{
		{"combined with a garbled time", []byte(`203.0.113.7 - - [23/Nov/2026:10:00 "GET /login?user=a&password=hunter2&api_key=` + apiKey +
			` HTTP/1.1" 200 5 "https://app.example/cb?access_token=` + jwt + `" "curl/8" "Authorization: Bearer opaque-abc-123"`)},
		{"json cut short", []byte(`{"time":"2026-11-23T10:00:00Z","http_authorization":"Basic ` + basic + `","request":"GET /x?sig=Zm9vYmFy`)},
		{"not utf-8", append([]byte("\xff\xfe GET /a?token="+jwt+" Bearer "), []byte(basic)...)},
		{"cut by the limit", []byte(strings.Repeat("x", 90) + " token=" + jwt)},
	}
	d, err := NewDecoder(DecoderOptions{Format: "nginx_combined"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		t.Run(l.name, func(t *testing.T) {
			var ev Event
			derr := d.Decode(l.text, &ev)
			if derr == nil {
				t.Fatalf("line parsed: %s", l.text)
			}
			var buf bytes.Buffer
			w := NewDeadLetterWriter(&buf)
			w.SetMaxLine(100)
			if err := w.Write("edge", Reject{Line: 1, Reason: derr.Error(), Text: l.text}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			var rec struct {
				Line       string `json:"line"`
				LineBase64 []byte `json:"line_base64"`
				Redacted   bool   `json:"line_redacted"`
			}
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("record is not JSON: %v: %s", err, buf.Bytes())
			}
			for _, s := range secrets {
				if strings.Contains(buf.String(), s) || bytes.Contains(rec.LineBase64, []byte(s)) {
					t.Errorf("secret %q kept: %s", s, buf.Bytes())
				}
			}
			if !rec.Redacted || !strings.Contains(rec.Line+string(rec.LineBase64), "RED") {
				t.Errorf("record does not say it was redacted: %s", buf.Bytes())
			}
		})
	}
}

// TestSecurityDeadLetterConfiguredParams: names added to the sensitive
// parameters (ingest.sensitive_params) are redacted in dead letters too.
func TestSecurityDeadLetterConfiguredParams(t *testing.T) {
	var b bytes.Buffer
	d := NewDeadLetterWriter(&b)
	d.SetSensitiveParams([]string{"X-Tenant-Pin"})
	line := `garbage "GET /x?x-tenant-pin=481516&api_key=k1&page=2" not a log line`
	if err := d.Write("test", Reject{Line: 1, Reason: "unparsable", Text: []byte(line)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "481516") || strings.Contains(out, "k1&") || !strings.Contains(out, "page=2") {
		t.Errorf("dead letter %s", out)
	}
}
