package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detect/contract"
)

// violationRow is one contract_violations row: a contract.Report with its
// violations turned into parallel arrays, as violationColumns lists them.
// It owns everything it holds, so the Report it came from may be reused.
type violationRow struct {
	id                                uint64
	time                              time.Time
	timeUS                            uint32
	client, kind, host, method, route string
	path                              string
	status                            uint16
	requestID                         string
	reasons, params, expected, got    []string
}

// violationRowOf is the row of r under the dedup key id: the time split
// into UTC seconds and microseconds (as events store it), a status
// outside UInt16 stored as 0 (as events do), one element of each array
// per violation. It copies every string: a report made of an event may
// view that event's parser buffers (ingest.Event's strings can), which
// the caller may reuse while the row still waits for its insert.
// Violations are rare, so the copies cost little.
func violationRowOf(r *contract.Report, id uint64) violationRow {
	n := len(r.Violations)
	c := strings.Clone
	row := violationRow{
		id: id, time: r.Time.UTC(), timeUS: uint32(r.Time.Nanosecond() / 1000),
		client: c(r.Client), kind: c(r.ClientKind), host: c(r.Host), method: c(r.Method), route: c(r.Route),
		path: c(r.Path), requestID: c(r.RequestID),
		reasons: make([]string, n), params: make([]string, n), expected: make([]string, n), got: make([]string, n),
	}
	if r.Status > 0 && r.Status <= 65535 {
		row.status = uint16(r.Status)
	}
	for i, v := range r.Violations {
		row.reasons[i], row.params[i], row.expected[i], row.got[i] = c(string(v.Reason)), c(v.Param), c(v.Expected), c(v.Got)
	}
	return row
}

// values are the row's columns in violationColumns order, for Append.
func (r *violationRow) values() []any {
	return []any{r.id, r.time, r.timeUS, r.client, r.kind, r.host, r.method, r.route, r.path,
		r.status, r.requestID, r.reasons, r.params, r.expected, r.got}
}

// size approximates the bytes the row holds, for the batch bounds.
func (r *violationRow) size() int {
	n := 96 + len(r.client) + len(r.kind) + len(r.host) + len(r.method) + len(r.route) + len(r.path) + len(r.requestID)
	for i := range r.reasons {
		n += 64 + len(r.reasons[i]) + len(r.params[i]) + len(r.expected[i]) + len(r.got[i])
	}
	return n
}

// reportViolations turns the arrays of a row read back into a
// contract.Report's violations. The arrays are parallel; should one be shorter (a row
// written by hand), its missing elements read as "".
func reportViolations(reasons, params, expected, got []string) []contract.Violation {
	n := max(len(reasons), len(params), len(expected), len(got))
	if n == 0 {
		return nil
	}
	at := func(s []string, i int) string {
		if i < len(s) {
			return s[i]
		}
		return ""
	}
	out := make([]contract.Violation, n)
	for i := range out {
		out[i] = contract.Violation{Reason: contract.Reason(at(reasons, i)), Param: at(params, i),
			Expected: at(expected, i), Got: at(got, i)}
	}
	return out
}

// InsertViolations writes requests outside the contract in one INSERT,
// without batching or retries (Writer adds both). Each row gets a fresh
// random dedup key: nothing replays these.
func (db *DB) InsertViolations(ctx context.Context, rs []contract.Report) error {
	if len(rs) == 0 {
		return nil
	}
	seed := randomSeed()
	rows := make([]violationRow, len(rs))
	for i := range rs {
		rows[i] = violationRowOf(&rs[i], mix64(seed+uint64(i)))
	}
	return db.insertViolations(ctx, rows)
}

// insertViolations writes rows in one INSERT. The same rows sent twice
// produce the same block, which servers with insert deduplication drop;
// elsewhere the Replacing engine collapses them by violation_id.
func (db *DB) insertViolations(ctx context.Context, rows []violationRow) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := db.conn.PrepareBatch(insertContext(ctx), "INSERT INTO "+db.table(tableViolations)+" "+columnList(db.ddl.violationColumns()))
	if err != nil {
		return fmt.Errorf("storage: insert contract violations: %w", err)
	}
	defer batch.Close()
	for i := range rows {
		if err := batch.Append(rows[i].values()...); err != nil {
			return fmt.Errorf("storage: insert contract violations: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("storage: insert %d contract violations: %w", len(rows), err)
	}
	return nil
}

// WriteViolations queues requests outside the API's contract
// (contract.Report, one per request); they go out with the next batch,
// into contract_violations. It copies what it keeps, so the caller may
// reuse rs (and the reports' Violations) at once.
func (w *Writer) WriteViolations(ctx context.Context, rs []contract.Report) error {
	rows := make([]violationRow, len(rs))
	for i := range rs {
		// The Writer's seed plus a sequence of its own: unique, which is all
		// dedup needs here (nothing replays them), as for embedded events.
		rows[i] = violationRowOf(&rs[i], mix64(w.seed+w.vseq.Add(1)))
	}
	return queueRows(ctx, w, &w.violations, rows)
}

// ConsumeViolations reads requests outside the API's contract
// (contract.Report as JSON, one per message) from r and stores them in
// contract_violations, like ConsumeEvents: offsets are committed only
// after ClickHouse holds the rows, the dedup key is the message's topic,
// partition and offset, and a message that does not decode, or is a
// report without a time or without violations, goes to OnBadMessage and
// is skipped.
func (db *DB) ConsumeViolations(ctx context.Context, r MessageReader, opts ConsumerOptions) error {
	return consume(ctx, r, opts, func() sink { return &violationSink{db: db} })
}

type violationSink struct {
	db   *DB
	rows []violationRow
	size int
}

func (s *violationSink) add(m *kafka.Message) error {
	var r contract.Report
	if err := json.Unmarshal(m.Value, &r); err != nil {
		return err
	}
	if err := checkReport(&r); err != nil {
		return err
	}
	row := violationRowOf(&r, EventID(m.Topic, m.Partition, m.Offset))
	s.rows = append(s.rows, row)
	s.size += row.size()
	return nil
}
func (s *violationSink) len() int                         { return len(s.rows) }
func (s *violationSink) bytes() int                       { return s.size }
func (s *violationSink) insert(ctx context.Context) error { return s.db.insertViolations(ctx, s.rows) }
func (s *violationSink) reset()                           { s.rows, s.size = s.rows[:0], 0 }

// checkReport refuses what cannot be a request outside the contract.
func checkReport(r *contract.Report) error {
	switch {
	case r.Time.IsZero():
		return errors.New("contract report without time")
	case len(r.Violations) == 0:
		return errors.New("contract report without reasons")
	}
	return nil
}
