package alert

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
)

func nextN(t *testing.T, fd *OutboxFeed, n int) []Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var es []Entry
	for range n {
		e, err := fd.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d entries: %v", len(es), err)
		}
		es = append(es, e)
	}
	return es
}

func TestOutboxResumeTornAndSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, err := OpenOutbox(dir, OutboxOptions{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := o.Feed("slack")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if err := o.Write(finding(i, detect.SeverityHigh, detect.StatusOpen)); err != nil {
			t.Fatal(err)
		}
	}
	if segs, _ := o.segments(); len(segs) < 3 {
		t.Fatalf("12 findings in 2 KiB segments made %d segments", len(segs))
	}
	if fd.Lag() != 12 {
		t.Errorf("lag %d, want 12", fd.Lag())
	}
	es := nextN(t, fd, 7)
	if err := fd.Ack(context.Background(), es...); err != nil {
		t.Fatal(err)
	}
	o.Close()
	// A crash in the middle of a write leaves a torn line.
	segs, _ := o.segments()
	last := o.segPath(segs[len(segs)-1])
	f, _ := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"queued":"2026-12-05T06:00:00Z","finding":{"incident_id":"torn`)
	f.Close()

	o2, err := OpenOutbox(dir, OutboxOptions{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	fd2, err := o2.Feed("slack")
	if err != nil {
		t.Fatal(err)
	}
	if fd2.Lag() != 5 {
		t.Errorf("after restart lag %d, want 5", fd2.Lag())
	}
	rest := nextN(t, fd2, 5)
	if rest[0].Finding.IncidentID != "inc-7" || rest[4].Finding.IncidentID != "inc-11" {
		t.Errorf("resumed at %s .. %s, want inc-7 .. inc-11", rest[0].Finding.IncidentID, rest[4].Finding.IncidentID)
	}
	// A sink added later starts at the end.
	late, err := o2.Feed("siem")
	if err != nil {
		t.Fatal(err)
	}
	if late.Lag() != 0 {
		t.Errorf("a new sink starts with lag %d, want 0", late.Lag())
	}
	o2.Write(finding(12, detect.SeverityHigh, detect.StatusOpen))
	if e := nextN(t, late, 1); e[0].Finding.IncidentID != "inc-12" {
		t.Errorf("new sink got %s first, want inc-12", e[0].Finding.IncidentID)
	}
	// Once every sink has passed a segment, it is deleted.
	fd2.Ack(context.Background(), rest...)
	more := nextN(t, fd2, 1)
	late.Ack(context.Background(), nextN(t, late, 0)...)
	fd2.Ack(context.Background(), more...)
	if _, err := os.Stat(o2.segPath(1)); !os.IsNotExist(err) {
		t.Errorf("segment 1 kept after every sink passed it (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cursor-slack.json")); err != nil {
		t.Error(err)
	}
}

func TestOutboxFeedWaitsForWrites(t *testing.T) {
	t.Parallel()
	o := openTestOutbox(t, t.TempDir())
	fd, _ := o.Feed("s")
	got := make(chan Entry, 1)
	go func() {
		e, err := fd.Next(context.Background())
		if err == nil {
			got <- e
		}
	}()
	time.Sleep(20 * time.Millisecond)
	o.Write(finding(1, detect.SeverityLow, detect.StatusOpen))
	select {
	case e := <-got:
		if e.Finding.IncidentID != "inc-1" || e.Queued.IsZero() {
			t.Errorf("got %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not wake on a write")
	}
	if _, err := o.Feed("s"); err == nil {
		t.Error("the same sink opened twice")
	}
	if _, err := o.Feed("../x"); err == nil {
		t.Error("a sink name with a path accepted")
	}
}
