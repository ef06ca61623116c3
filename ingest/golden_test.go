package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// goldenEvent is the stable, human-readable view of a normalised event (or
// of a parse error) written to golden files.
type goldenEvent struct {
	Line       int    `json:"line"`
	Error      string `json:"error,omitempty"`
	Time       string `json:"time,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
	ClientKind string `json:"client_kind,omitempty"`
	RemoteIP   string `json:"remote_ip,omitempty"`
	Method     string `json:"method,omitempty"`
	Host       string `json:"host,omitempty"`
	Path       string `json:"path,omitempty"`
	Route      string `json:"route,omitempty"`
	Query      string `json:"query,omitempty"`
	Status     int    `json:"status,omitempty"`
	BytesIn    int64  `json:"bytes_in,omitempty"`
	BytesOut   int64  `json:"bytes_out,omitempty"`
	LatencyUS  int64  `json:"latency_us,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	Referer    string `json:"referer,omitempty"`
	Auth       string `json:"auth,omitempty"`
	Scheme     string `json:"scheme,omitempty"`
	TLSVersion string `json:"tls_version,omitempty"`
	APIVersion string `json:"api_version,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
}

func goldenView(line int, ev *Event, err error) goldenEvent {
	if err != nil {
		return goldenEvent{Line: line, Error: err.Error()}
	}
	g := goldenEvent{
		Line: line, ClientKey: ev.ClientKey, ClientKind: ev.ClientKind.String(),
		Method: ev.Method, Host: ev.Host, Path: ev.Path, Route: ev.Route, Query: ev.Query,
		Status: ev.Status, BytesIn: ev.BytesIn, BytesOut: ev.BytesOut,
		LatencyUS: ev.Latency.Microseconds(), UserAgent: ev.UserAgent, Referer: ev.Referer,
		Auth: ev.Auth.String(), Scheme: ev.Scheme, TLSVersion: ev.TLSVersion,
		APIVersion: ev.APIVersion, RequestID: ev.RequestID, Truncated: ev.Truncated,
	}
	if !ev.Time.IsZero() {
		g.Time = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	if ev.RemoteIP.IsValid() {
		g.RemoteIP = ev.RemoteIP.String()
	}
	return g
}

// goldenOptions are the parser options a golden file needs: a file named
// FORMAT.log may come with FORMAT.logformat holding an nginx log_format.
func goldenOptions(t *testing.T, base string) ParserOptions {
	b, err := os.ReadFile(base + ".logformat")
	if errors.Is(err, os.ErrNotExist) {
		return ParserOptions{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return ParserOptions{LogFormat: strings.TrimSpace(string(b))}
}

// TestGolden parses every testdata/golden/NAME.log with the format NAME
// (the part before the first '.'; "auto" detects) and compares the
// normalised events with NAME.golden.json. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden inputs under testdata/golden")
	}
	for _, file := range files {
		base := strings.TrimSuffix(file, ".log")
		name := filepath.Base(base)
		format, _, _ := strings.Cut(name, ".")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := NewParser(format, goldenOptions(t, base))
			if err != nil {
				t.Fatal(err)
			}
			norm, err := NewNormalizer(NormalizerOptions{
				HMACKey:        []byte("golden-test-key"),
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")},
			})
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var got []goldenEvent
			sc := bufio.NewScanner(bytes.NewReader(in))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var ev Event
			for n := 1; sc.Scan(); n++ {
				ev.Reset()
				err := p.Parse(sc.Bytes(), &ev)
				if err == nil {
					norm.Normalize(&ev)
				}
				c := ev.Clone() // ev's strings die with the next line
				got = append(got, goldenView(n, &c, err))
			}
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			golden := base + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./ingest -run TestGolden -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs from the parse; run with -update and review the diff.\ngot:\n%s", golden, out)
			}
		})
	}
}
