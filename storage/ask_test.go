package storage

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/detect/inventory"
)

func TestParseRankBy(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"requests", "errors", "auth_failures"} {
		if r, err := ParseRankBy(s); err != nil || string(r) != s {
			t.Errorf("ParseRankBy(%q) = %q, %v", s, r, err)
		}
	}
	if _, err := ParseRankBy("bytes"); err == nil || !strings.Contains(err.Error(), "want requests, errors or auth_failures") {
		t.Errorf("ParseRankBy(bytes): err = %v", err)
	}
}

// TestAnswerPrints checks each answer's table and JSON without a server.
func TestAnswerPrints(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		a         *Answer
		table     string
		jsonField string
	}{
		{"timeline", timelineAnswer([]StoredEvent{{Time: at, Method: "GET", Path: "/v1/x", Status: 200, BytesOut: 12, Auth: "ok", IP: netip.MustParseAddr("203.0.113.7")}}),
			"TIME                  METHOD  PATH   STATUS  BYTES_OUT  AUTH  IP\n2026-03-02T10:00:00Z  GET     /v1/x  200     12         ok    203.0.113.7\n", `"path": "/v1/x"`},
		{"top", topAnswer([]ClientStat{{Client: "k:a", ClientKind: "api_key", Requests: 3, Last: at}}),
			"CLIENT  KIND     REQUESTS  ERRORS  AUTH_FAILURES  BYTES_OUT  ROUTES  LAST\nk:a     api_key  3         0       0              0          0       2026-03-02T10:00:00Z\n", `"client": "k:a"`},
		{"findings", findingsAnswer([]detect.Finding{{Severity: "high", Client: "k:a", Detector: "volume", WindowStart: at, Summary: "spike"}}),
			"SEVERITY  CLIENT  DETECTOR  SINCE                 SUMMARY\nhigh      k:a     volume    2026-03-02T10:00:00Z  spike\n", `"detector": "volume"`},
		{"contract", contractAnswer([]contract.Report{{Time: at, Client: "203.0.113.7", Method: "GET", Path: "/v1/orders/x", Status: 400,
			Violations: []contract.Violation{{Reason: contract.WrongKind, Param: "id", Expected: "integer", Got: `"x"`}, {Reason: contract.ProbeFile}}}}),
			"TIME                  CLIENT       METHOD  PATH          STATUS  REASONS\n2026-03-02T10:00:00Z  203.0.113.7  GET     /v1/orders/x  400     wrong_kind(id), probe_file\n",
			`"reasons": [`},
		{"endpoints", endpointsAnswer([]inventory.Endpoint{sampleEndpoint()}),
			"METHOD  ROUTE            REQUESTS  CLIENTS  2xx  4xx   5xx  AUTH    P95  FIRST             LAST              VERSIONS\n" +
				"GET     /v1/orders/{id}       120        7  83%  12%  2.5%  yes   4.1kB  2026-03-01 09:00  2026-03-04 08:59  v1,v2\n",
			`"auth_required": true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var table, js strings.Builder
			if err := tc.a.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			if table.String() != tc.table {
				t.Errorf("table:\n%q\nwant\n%q", table.String(), tc.table)
			}
			if err := tc.a.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(js.String(), "[\n  {") || !strings.Contains(js.String(), tc.jsonField) {
				t.Errorf("json lacks %s:\n%s", tc.jsonField, js.String())
			}
		})
	}
}

// TestSecurityQueryTablesEscapeControlBytes: "gatewatch query" prints
// what clients sent (paths, keys, summaries quoting them); bytes a
// terminal obeys, tabs and newlines that would break the table, C1 and
// bidirectional controls and invalid UTF-8 come out escaped, in every
// table.
func TestSecurityQueryTablesEscapeControlBytes(t *testing.T) {
	hostile := "/a\x1b]0;pwned\x07\x1b[2J\tb\nc\u202e\u0085\xff/é"
	answers := map[string]*Answer{
		"timeline": timelineAnswer([]StoredEvent{{Method: "GET\x1b", Path: hostile}}),
		"top":      topAnswer([]ClientStat{{Client: hostile}}),
		"findings": findingsAnswer([]detect.Finding{{Client: hostile, Summary: hostile}}),
		"contract": contractAnswer([]contract.Report{{Client: hostile, Method: "GET", Path: hostile}}),
	}
	for name, a := range answers {
		var b bytes.Buffer
		if err := a.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if n := strings.Count(out, "\n"); n != 2 {
			t.Errorf("%s: %d lines, want header and one row:\n%s", name, n, out)
		}
		for _, bad := range []string{"\x1b", "\x07", "\u202e", "\u0085", "\xff"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s: table holds %q raw:\n%q", name, bad, out)
			}
		}
		if !strings.Contains(out, `/a\x1B]0;pwned\x07\x1B[2J\x09b\x0Ac\u{202E}\u{0085}\xFF/é`) {
			t.Errorf("%s: hostile text not escaped as expected:\n%q", name, out)
		}
	}
}
