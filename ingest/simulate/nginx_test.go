package simulate

import (
	"bufio"
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestNginxRoundTrip parses every WriteNginx line with the nginx_combined
// parser, normalises it, and checks it is exactly the event Run emitted.
func TestNginxRoundTrip(t *testing.T) {
	t.Parallel()
	cfg := small(21)
	cfg.Clients = 300
	s := mustNew(t, cfg)
	var log bytes.Buffer
	if err := s.WriteNginx(context.Background(), &log); err != nil {
		t.Fatal(err)
	}
	p, err := ingest.NewParser("nginx_combined", ingest.ParserOptions{})
	if err != nil {
		t.Fatalf("the nginx_combined parser is not available: %v", err)
	}
	norm, err := ingest.NewNormalizer(ingest.NormalizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&log)
	var parsed ingest.Event
	line, mismatches := 0, 0
	err = s.Run(context.Background(), func(ev *ingest.Event) error {
		line++
		if !sc.Scan() {
			t.Fatalf("log ended at line %d, Run goes on", line)
		}
		parsed.Reset()
		if err := p.Parse(sc.Bytes(), &parsed); err != nil {
			t.Fatalf("line %d %q: %v", line, sc.Text(), err)
		}
		norm.Normalize(&parsed)
		if d := diffEvents(parsed.Clone(), ev.Clone()); d != "" {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("line %d %q: parsed and simulated events differ: %s", line, sc.Text(), d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Scan() {
		t.Fatalf("log has more lines than Run's %d events", line)
	}
	if line < 1000 || mismatches > 0 {
		t.Fatalf("%d lines, %d mismatches", line, mismatches)
	}
}

// diffEvents names the first field in which a and b (owned clones) differ.
func diffEvents(a, b ingest.Event) string {
	if !a.Time.Equal(b.Time) {
		return "Time " + a.Time.String() + " != " + b.Time.String()
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return f.Name + ": parsed " + reflect.ValueOf(va.Field(i).Interface()).String() + ", simulated " + reflect.ValueOf(vb.Field(i).Interface()).String()
		}
	}
	return ""
}
