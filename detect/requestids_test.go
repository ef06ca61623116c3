package detect

import (
	"strconv"
	"strings"
	"testing"
)

// TestFindingsNameRequestIDs: findings name request ids of the kind of
// request that made them, and only their own client's.
func TestFindingsNameRequestIDs(t *testing.T) {
	t.Parallel()
	s := newSynth(t, Options{})
	for w := range 40 {
		rs := quietFleet(s, 40)
		for i := range rs {
			rs[i].id = "quiet-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
		}
		if w >= 30 && w < 32 {
			for i := range 60 {
				rs = append(rs, req{client: "203.0.113.9", path: "/admin/x" + strconv.Itoa(i) + "a/b", status: 404, id: "scan-" + strconv.Itoa(i)})
				rs = append(rs, req{client: "198.51.100.4", path: "/login", status: 401, id: "login-" + strconv.Itoa(i)})
			}
			rs = append(rs,
				req{client: "192.0.2.7", path: "/api/v2/search", query: "q=1%27%20OR%20%271%27%3D%271", status: 400, id: "probe-1"},
				req{client: "192.0.2.7", path: "/api/v1/files", query: "name=..%2F..%2Fetc%2Fpasswd", status: 400, id: "probe-2"},
				req{client: "192.0.2.7", path: "/api/v1/p", query: "x=%3Cscript%3Ealert(1)%3C%2Fscript%3E", status: 400, id: "probe-3"})
		}
		s.sendAll(w, rs)
	}
	s.eng.Flush()
	for _, tc := range []struct{ client, det, prefix, kind string }{
		{"203.0.113.9", DetectorScanning, "scan-", "404/403"},
		{"198.51.100.4", DetectorAuthFailures, "login-", "auth failure"},
		{"192.0.2.7", DetectorInjection, "probe-", "probe"},
	} {
		fs := s.of(tc.client, tc.det)
		if len(fs) == 0 {
			t.Errorf("%s: no %s finding: %v", tc.client, tc.det, summaries(s.findings))
			continue
		}
		var ids []string
		for _, x := range fs[0].Samples {
			if strings.HasPrefix(x, "request id ") {
				ids = append(ids, x)
				if !strings.HasPrefix(x, "request id "+tc.prefix) || !strings.HasSuffix(x, "("+tc.kind+")") {
					t.Errorf("%s: sample %q is not one of its %s requests", tc.det, x, tc.kind)
				}
			}
		}
		if len(ids) == 0 || len(ids) > requestIDsOfKind {
			t.Errorf("%s: %d request ids in samples %q, want 1 to %d", tc.det, len(ids), fs[0].Samples, requestIDsOfKind)
		}
	}
}

func TestRequestIDTable(t *testing.T) {
	t.Parallel()
	var tab requestIDs
	a, reused := clientRef{idx: 7, gen: 1}, clientRef{idx: 7, gen: 2}
	if tab.entry(a, 10) != nil {
		t.Fatal("empty table has an entry")
	}
	for i := range 5 {
		tab.record(a, 10, idMiss, "m"+strconv.Itoa(i))
	}
	tab.record(a, 10, idMiss, "m0")
	tab.record(a, 10, idAuth, "a0")
	tab.record(a, 10, idAuth, "a0") // the same id again
	tab.record(a, 10, idAuth, "a1")
	tab.record(a, 10, idErr, "e0") // full
	x := tab.entry(a, 10)
	if x == nil || x.n != requestIDsKept {
		t.Fatalf("entry %+v", x)
	}
	var got []string
	for i := range x.n {
		got = append(got, x.ids[i].String())
	}
	if strings.Join(got, ",") != "m0,m1,a0,a1" {
		t.Errorf("kept %v, want m0,m1,a0,a1 (two per kind, no repeats)", got)
	}
	if tab.entry(reused, 10) != nil {
		t.Error("a reused slot sees the evicted client's ids")
	}
	tab.record(a, 12, idErr, "e12") // window 12 takes the entry of window 10's parity
	tab.record(a, 10, idErr, "late")
	if tab.entry(a, 10) != nil || tab.entry(a, 12) == nil {
		t.Error("a late event evicted a newer window's ids")
	}
	tab.record(a, 11, idErr, "ctrl\x00\xffid"+strings.Repeat("x", 80))
	if x := tab.entry(a, 11); x == nil || x.ids[0].String() != "ctrl??id"+strings.Repeat("x", sampleLen-8) {
		t.Errorf("id not made printable and truncated: %+v", x)
	}
}
