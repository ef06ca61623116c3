package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/pipeline"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/storage"
)

// findingCount counts the findings a pipeline emits.
type findingCount struct{ n int }

func (c *findingCount) Write(detect.Finding) error { c.n++; return nil }

// TestPipelineLibraryStoresInClickHouse runs the embedded pipeline as a
// library — detect/pipeline with storage.Writer as its store, wired the
// way run wires it but without the CLI — against the real ClickHouse:
// every line becomes a stored event and every finding a stored row.
func TestPipelineLibraryStoresInClickHouse(t *testing.T) {
	t.Parallel()
	chAddr, env := testClickHouse(t)
	path, _ := writeScenarioLog(t, smallScenario())
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(in), "\n")
	ctx := context.Background()
	dbName := fmt.Sprintf("test_pipeline_%d", time.Now().UnixNano())
	db, err := storage.Open(ctx, storage.Options{Addr: chAddr, Database: dbName, Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w := storage.NewWriter(db, storage.WriterOptions{})
	found := &findingCount{}
	p, err := pipeline.New(pipeline.Options{
		Inputs:        []ingest.Input{{Source: &ingest.FileSource{Path: "-", Stdin: bytes.NewReader(in)}, Format: "nginx_combined"}},
		Findings:      []pipeline.FindingWriter{found},
		Store:         runStore{w},
		DeadLetterDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	top, err := db.TopClients(ctx, storage.TopQuery{From: time.Unix(0, 0), To: time.Now().Add(24 * time.Hour), Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range top {
		n += int(s.Requests)
	}
	if n != lines {
		t.Errorf("%d events stored, want every one of the %d lines", n, lines)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr},
		Auth: clickhouse.Auth{Database: dbName, Username: "default", Password: env["GATEWATCH_CLICKHOUSE_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM findings").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if found.n == 0 || int(rows) != found.n {
		t.Errorf("%d finding rows stored, %d findings emitted", rows, found.n)
	}
}
