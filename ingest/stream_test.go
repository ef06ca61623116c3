package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func combinedLine(i int) string {
	return fmt.Sprintf(`198.51.100.%d - - [02/Nov/2026:00:%02d:%02d +0000] "GET /api/v1/orders/%d?token=s3cret HTTP/1.1" 200 %d "-" "curl/8.5.0"`,
		i%250, (i/60)%60, i%60, i, 100+i)
}

// TestParseStreamOrderAndRejects checks that parallel parsing delivers
// every line once, in input order, with rejects numbered by line.
func TestParseStreamOrderAndRejects(t *testing.T) {
	t.Parallel()
	var in bytes.Buffer
	const n = 20000
	bad := map[int64]bool{}
	for i := 0; i < n; i++ {
		if i%997 == 3 {
			in.WriteString("this is not an access log line\n")
			bad[int64(i+1)] = true
			continue
		}
		if i%1500 == 7 {
			in.WriteString("\r\n") // blank lines are skipped, not rejected
			continue
		}
		in.WriteString(combinedLine(i))
		in.WriteString("\r\n")
	}
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			t.Parallel()
			var paths []string
			var rejected []int64
			lines := 0
			format, err := ParseStream(context.Background(), bytes.NewReader(in.Bytes()), StreamOptions{
				Workers: workers, ChunkSize: 4096, Normalizer: NormalizerOptions{HMACKey: []byte("k")},
			}, func(b *Batch) error {
				lines += b.Lines
				for i := range b.Events {
					paths = append(paths, strings.Clone(b.Events[i].Path))
					if q := b.Events[i].Query; q != "token=REDACTED" {
						return fmt.Errorf("query %q not redacted", q)
					}
				}
				for _, r := range b.Rejects {
					rejected = append(rejected, r.Line)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if format != "nginx_combined" {
				t.Fatalf("detected %q", format)
			}
			if lines != n {
				t.Fatalf("lines %d, want %d", lines, n)
			}
			want := 0
			for i := 0; i < n; i++ {
				if i%997 == 3 || i%1500 == 7 {
					continue
				}
				if want >= len(paths) || paths[want] != fmt.Sprintf("/api/v1/orders/%d", i) {
					t.Fatalf("event %d: out of order or missing (have %d events)", want, len(paths))
				}
				want++
			}
			if len(paths) != want {
				t.Fatalf("%d events, want %d", len(paths), want)
			}
			if len(rejected) != len(bad) {
				t.Fatalf("rejected lines %v, want %d of them", rejected, len(bad))
			}
			for _, l := range rejected {
				if !bad[l] {
					t.Fatalf("line %d rejected but it is valid (rejected: %v)", l, rejected)
				}
			}
		})
	}
}

func TestParseStreamLongLineAndNoTrailingNewline(t *testing.T) {
	t.Parallel()
	in := combinedLine(1) + "\n" + strings.Repeat("A", 10000) + "\n" + combinedLine(2)
	var events int
	var reasons []string
	var lines []int64
	_, err := ParseStream(context.Background(), strings.NewReader(in), StreamOptions{Format: "nginx_combined", ChunkSize: 1024},
		func(b *Batch) error {
			events += len(b.Events)
			for _, r := range b.Rejects {
				reasons = append(reasons, r.Reason)
				lines = append(lines, r.Line)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if events != 2 || len(reasons) != 1 || reasons[0] != "line too long" || lines[0] != 2 {
		t.Fatalf("events %d, rejects %q at %v", events, reasons, lines)
	}
}

func TestParseStreamErrors(t *testing.T) {
	t.Parallel()
	_, err := ParseStream(context.Background(), strings.NewReader("garbage\nmore garbage\n"), StreamOptions{}, func(*Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "cannot detect the log format") {
		t.Fatalf("undetectable input: %v", err)
	}
	_, err = ParseStream(context.Background(), strings.NewReader("x\n"), StreamOptions{Format: "no_such_format"}, func(*Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "unknown log format") {
		t.Fatalf("unknown format: %v", err)
	}
	stop := errors.New("stop")
	var in strings.Builder
	for i := 0; i < 5000; i++ {
		in.WriteString(combinedLine(i) + "\n")
	}
	_, err = ParseStream(context.Background(), strings.NewReader(in.String()), StreamOptions{ChunkSize: 512}, func(*Batch) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("callback error: %v", err)
	}
	_, err = ParseStream(context.Background(), io.MultiReader(strings.NewReader(combinedLine(1)+"\n"), errReader{}), StreamOptions{Format: "nginx_combined"}, func(*Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("read error: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestOpenInputGzip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "access.log.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(combinedLine(1) + "\n"))
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _, err := OpenInput(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil || string(b) != combinedLine(1)+"\n" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, _, err := OpenInput(filepath.Join(t.TempDir(), "missing.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// BenchmarkParseStream measures the parallel parse stage of analyze on
// nginx combined lines (all workers; lines/s is the whole stage).
func BenchmarkParseStream(b *testing.B) {
	var in bytes.Buffer
	for i := 0; in.Len() < 32<<20; i++ {
		in.WriteString(combinedLine(i))
		in.WriteByte('\n')
	}
	data := in.Bytes()
	lines := bytes.Count(data, []byte{'\n'})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_, err := ParseStream(context.Background(), bytes.NewReader(data), StreamOptions{Format: "nginx_combined"}, func(*Batch) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
