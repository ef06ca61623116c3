package storage

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// sampleReport is a request outside the contract at t, of client, with
// two violations (the second without expected or got).
func sampleReport(t time.Time, client string, i int) contract.Report {
	return contract.Report{
		Time: t, Client: client, ClientKind: "ip", Host: "api.example.com", Method: "GET",
		Route: "/v1/orders/{id}", Path: "/v1/orders/x" + itoa(i) + "?debug=1", Status: 400, RequestID: "req-" + client + "-" + itoa(i),
		Violations: []contract.Violation{
			{Reason: contract.WrongKind, Param: "id", Expected: "integer", Got: `"x` + itoa(i) + `"`},
			{Reason: contract.UnknownParam, Param: "debug"},
		},
	}
}

// TestViolationRowOf pins the row encoding: the time split as events
// split it, the status clamped, one array element per violation, nothing
// shared with the report, and every server's column list matched.
func TestViolationRowOf(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 10, 0, 1, 250_123_999, time.FixedZone("CET", 3600))
	r := sampleReport(at, "203.0.113.7", 1)
	row := violationRowOf(&r, 42)
	want := violationRow{
		id: 42, time: at.UTC(), timeUS: 250_123, client: "203.0.113.7", kind: "ip", host: "api.example.com",
		method: "GET", route: "/v1/orders/{id}", path: "/v1/orders/x1?debug=1", status: 400, requestID: "req-203.0.113.7-1",
		reasons: []string{"wrong_kind", "unknown_param"}, params: []string{"id", "debug"},
		expected: []string{"integer", ""}, got: []string{`"x1"`, ""},
	}
	if !reflect.DeepEqual(row, want) {
		t.Errorf("violationRowOf =\n%+v\nwant\n%+v", row, want)
	}
	r.Violations[0].Reason, r.Violations[0].Param = "changed", "changed"
	if row.reasons[0] != "wrong_kind" || row.params[0] != "id" {
		t.Error("the row shares its arrays with the report")
	}
	if got := reportViolations(row.reasons, row.params, row.expected, row.got); !reflect.DeepEqual(got, sampleReport(at, "c", 1).Violations) {
		t.Errorf("reportViolations of the row = %+v, want the report's", got)
	}
	// A report viewing a parser's buffer (as ingest.Event's strings can):
	// the row keeps its own copy when the buffer is reused.
	buf := []byte("/v1/alias")
	r.Path = unsafe.String(&buf[0], len(buf))
	row = violationRowOf(&r, 1)
	copy(buf, "/v2/reuse")
	if row.path != "/v1/alias" {
		t.Errorf("row path %q changed with the caller's buffer", row.path)
	}
	for _, st := range []int{-1, 0, 70_000} {
		r.Status = st
		if row := violationRowOf(&r, 1); row.status != 0 {
			t.Errorf("status %d stored as %d, want 0", st, row.status)
		}
	}
	r.Violations = nil
	if row := violationRowOf(&r, 1); row.reasons == nil || row.got == nil || len(row.params) != 0 {
		t.Errorf("a report without violations gives arrays %#v, %#v: want empty, not nil (an Array takes no NULL)", row.reasons, row.got)
	}
	for _, v := range []ServerVersion{{18, 16, 1}, {19, 9, 0}, {24, 8, 0}} {
		d := ddl{f: FeaturesFor(v)}
		if n := len(d.violationColumns()); n != len(row.values()) {
			t.Errorf("%v: %d columns, %d values per row", v, n, len(row.values()))
		}
	}
}

// TestReportViolationsUneven reads arrays of unequal length (a row
// written by hand) without losing or inventing a violation.
func TestReportViolationsUneven(t *testing.T) {
	t.Parallel()
	got := reportViolations([]string{"traversal", "probe_file"}, []string{"p"}, nil, []string{"a", "b", "c"})
	want := []contract.Violation{{Reason: contract.Traversal, Param: "p", Got: "a"}, {Reason: contract.ProbeFile, Got: "b"}, {Got: "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reportViolations = %+v, want %+v", got, want)
	}
	if got := reportViolations(nil, nil, nil, nil); got != nil {
		t.Errorf("no arrays read back as %+v, want nil", got)
	}
}

// TestViolationSinkDecodes: a report message becomes a row keyed by its
// Kafka coordinates; what is not a report is refused (and so counted as a
// bad message by consume).
func TestViolationSinkDecodes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	s := &violationSink{}
	good := mustJSON(t, sampleReport(at, "10.0.0.9", 3))
	if err := s.add(&kafka.Message{Topic: "contract", Partition: 2, Offset: 17, Value: good}); err != nil {
		t.Fatalf("add(report) = %v", err)
	}
	if s.len() != 1 || s.rows[0].id != EventID("contract", 2, 17) || s.rows[0].client != "10.0.0.9" || s.bytes() <= 0 {
		t.Errorf("sink after one report: %d rows, %+v, %d bytes", s.len(), s.rows, s.bytes())
	}
	for name, v := range map[string]string{
		"not json":      `{not json`,
		"no time":       `{"client":"x","method":"GET","path":"/","reasons":[{"reason":"traversal"}]}`,
		"no reasons":    `{"time":"2026-03-04T10:00:00Z","client":"x","reasons":[]}`,
		"wrong type":    `{"time":"2026-03-04T10:00:00Z","status":"four hundred","reasons":[{"reason":"traversal"}]}`,
		"reasons field": `{"time":"2026-03-04T10:00:00Z","client":"x","violations":[{"reason":"traversal"}]}`,
	} {
		if err := s.add(&kafka.Message{Value: []byte(v)}); err == nil {
			t.Errorf("%s: accepted %s", name, v)
		}
	}
	if s.len() != 1 {
		t.Errorf("%d rows after refused messages, want 1", s.len())
	}
	s.reset()
	if s.len() != 0 || s.bytes() != 0 {
		t.Errorf("reset left %d rows, %d bytes", s.len(), s.bytes())
	}
}

func TestStoreTablesContractTopic(t *testing.T) {
	t.Parallel()
	names := func(o StoreOptions) []string {
		s, err := NewStore(&DB{}, o)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, st := range s.tables() {
			out = append(out, st.table+"<"+st.topic)
		}
		return out
	}
	if got := names(StoreOptions{}); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, tableViolations) }) {
		t.Errorf("no ContractTopic, yet tables %v", got)
	}
	if got := names(StoreOptions{ContractTopic: "c"}); !slices.Contains(got, tableViolations+"<c") {
		t.Errorf("ContractTopic c: tables %v", got)
	}
}

// TestContractViolationsRealKafka stores requests outside the contract
// both ways, on the real server and broker: through a Writer (as "run"
// does) and from a topic through a Store with ContractTopic set (as
// "store" does), bad messages skipped, counted and committed. Then the
// "contract" query reads them back newest first, all or of one client; a
// batch stored twice shows once; retention drops an expired day.
func TestContractViolationsRealKafka(t *testing.T) {
	t.Parallel()
	broker := testenv.Getenv(t, "Kafka broker", "GATEWATCH_TEST_KAFKA")[0]
	db := migrated(t, testClickHouse(t, func(o *Options) { o.Retention = Retention{Violations: 30} }))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Second)

	// Through the Writer: three of k:alice's, the slice then reused.
	var want []contract.Report
	w := NewWriter(db, WriterOptions{})
	mine := []contract.Report{
		sampleReport(now.Add(-50*time.Minute+123456*time.Microsecond), "k:alice", 0),
		sampleReport(now.Add(-40*time.Minute), "k:alice", 1),
		sampleReport(now.Add(-30*time.Minute+999999*time.Microsecond), "k:alice", 2),
	}
	if err := w.WriteViolations(ctx, mine); err != nil {
		t.Fatal(err)
	}
	want = append(want, mine...)
	want[0].Violations = slices.Clone(mine[0].Violations)
	mine[0].Client, mine[0].Violations[0].Got = "reused", "reused"
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Violations != 3 || st.Inserts != 1 {
		t.Errorf("writer stats %+v, want 3 violations in 1 insert", st)
	}

	// Through the topic: four of 10.0.0.9's, then three that are not
	// reports.
	cfg := transport.Config{Brokers: []string{broker}, ClientID: "gatewatch-storage-test"}
	topics := storeTopics(t, ctx, cfg, "events", "findings", "contract")
	var msgs [][]byte
	for i := range 4 {
		r := sampleReport(now.Add(-time.Duration(45-10*i)*time.Minute), "10.0.0.9", i)
		r.Violations = r.Violations[:1+i%2]
		if i == 3 {
			r.Route, r.Violations = "", []contract.Violation{{Reason: contract.ProbeFile, Got: "/.env"}}
		}
		want = append(want, r)
		msgs = append(msgs, mustJSON(t, r))
	}
	msgs = append(msgs, []byte(`{not json`), []byte(`{"client":"x","reasons":[{"reason":"traversal"}]}`),
		[]byte(`{"time":"`+now.Format(time.RFC3339)+`","client":"x","reasons":[]}`))
	publishRaw(t, ctx, cfg, topics["contract"], msgs...)
	storeContractTopic(t, ctx, db, cfg, topics, len(msgs))

	// Newest first, everything.
	slices.SortFunc(want, func(a, b contract.Report) int { return b.Time.Compare(a.Time) })
	ans, err := db.Ask(ctx, Question{Name: "contract", From: now.Add(-2 * time.Hour), To: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ans.Rows.([]contract.Report); !reflect.DeepEqual(got, want) {
		t.Errorf("query contract =\n%+v\nwant\n%+v", got, want)
	}
	checkContractFilters(t, ctx, db, now, want)
	checkContractReplay(t, ctx, db, now)

	// Retention: a day past 30 is dropped like the other tables' days.
	if err := db.InsertViolations(ctx, []contract.Report{sampleReport(time.Date(2020, 1, 2, 3, 0, 0, 0, time.UTC), "k:old", 0)}); err != nil {
		t.Fatal(err)
	}
	dropped, err := db.EnforceRetention(ctx, now)
	if err != nil || !slices.Contains(dropped, Dropped{Table: tableViolations, Partition: "20200102"}) || len(dropped) != 1 {
		t.Errorf("EnforceRetention dropped %v, %v; want contract_violations 20200102 only", dropped, err)
	}
}

// storeContractTopic runs a Store with ContractTopic set until every
// report of topics["contract"] is stored and all n messages committed.
func storeContractTopic(t *testing.T, ctx context.Context, db *DB, cfg transport.Config, topics map[string]string, n int) {
	t.Helper()
	group := "gatewatch-store-test-" + topics["contract"][len(topics["contract"])-12:]
	opts := StoreOptions{Kafka: cfg, Group: group, EventsTopic: topics["events"], FindingsTopic: topics["findings"],
		ContractTopic: topics["contract"], BatchRows: 2, FlushInterval: 200 * time.Millisecond, RetentionEvery: -1}
	var seen storeCounts
	seen.hook(&opts)
	s, err := NewStore(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	waitFor(t, 2*time.Minute, "4 reports stored, 3 bad messages reported, all committed", func() bool {
		seen.mu.Lock()
		rows, bad := seen.rows[tableViolations], seen.bad[topics["contract"]]
		seen.mu.Unlock()
		return rows == 4 && bad == 3 && committed(t, ctx, cfg, StoreGroupID(group, topics["contract"]), topics["contract"]) == int64(n)
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after ctx's end", err)
	}
}

// checkContractFilters asks for one client, a narrower range and fewer
// rows; want is everything stored, newest first.
func checkContractFilters(t *testing.T, ctx context.Context, db *DB, now time.Time, want []contract.Report) {
	t.Helper()
	var alice []contract.Report
	for _, r := range want {
		if r.Client == "k:alice" {
			alice = append(alice, r)
		}
	}
	ans, err := db.Ask(ctx, Question{Name: "contract", Args: []string{"k:alice"}, From: now.Add(-2 * time.Hour), To: now})
	if err != nil || !reflect.DeepEqual(ans.Rows, alice) {
		t.Errorf("query contract k:alice = %+v, %v; want %d rows", ans, err, len(alice))
	}
	got, err := db.ContractViolations(ctx, ViolationsQuery{From: now.Add(-41 * time.Minute), To: now.Add(-30 * time.Minute)})
	if err != nil || len(got) != 2 || !got[0].Time.Equal(now.Add(-35*time.Minute)) || !got[1].Time.Equal(now.Add(-40*time.Minute)) {
		t.Errorf("[-41m, -30m) = %+v, %v; want 10.0.0.9's at -35m and k:alice's at -40m", got, err)
	}
	if got, err := db.ContractViolations(ctx, ViolationsQuery{From: now.Add(-time.Hour), To: now, Limit: 2}); err != nil || !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("limit 2 = %+v, %v; want the 2 newest", got, err)
	}
	if _, err := db.Ask(ctx, Question{Name: "contract", Args: []string{"a", "b"}}); err == nil {
		t.Error("query contract with two clients accepted")
	}
	var table strings.Builder
	if err := ans.WriteTable(&table); err != nil || !strings.Contains(table.String(), "wrong_kind(id), unknown_param(debug)") {
		t.Errorf("table:\n%s%v", table.String(), err)
	}
}

// checkContractReplay stores one Kafka batch twice (a crash between the
// insert and the commit): the query shows it once, a merge keeps one.
func checkContractReplay(t *testing.T, ctx context.Context, db *DB, now time.Time) {
	t.Helper()
	rows := make([]violationRow, 3)
	for i := range rows {
		r := sampleReport(now.Add(-time.Duration(i)*time.Minute), "k:replay", i)
		rows[i] = violationRowOf(&r, EventID("contract", 0, int64(i)))
	}
	for range 2 {
		if err := db.insertViolations(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ContractViolations(ctx, ViolationsQuery{Client: "k:replay", From: now.Add(-time.Hour), To: now.Add(time.Minute)})
	if err != nil || len(got) != 3 {
		t.Errorf("replayed batch reads back as %d rows, %v; want 3", len(got), err)
	}
	if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+db.table(tableViolations)+" FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count() FROM "+db.table(tableViolations)+" WHERE client = 'k:replay'"); n != 3 {
		t.Errorf("%d rows after the merge, want 3", n)
	}
}
