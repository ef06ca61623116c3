package alert

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/gatewatch/gatewatch/detect"
)

// Dir appends findings to daily JSON-lines files in a directory
// (findings-2026-11-23.jsonl, by the finding's window end, UTC): the
// embedded pipeline's durable record when no ClickHouse is configured.
// It is safe for concurrent use.
type Dir struct {
	mu   sync.Mutex
	path string
	day  string
	f    *os.File
}

// OpenDir creates path if needed and returns a Dir writing into it.
func OpenDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("findings dir: %w", err)
	}
	return &Dir{path: path}, nil
}

// Write appends f to the file of its day.
func (d *Dir) Write(f detect.Finding) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode finding: %w", err)
	}
	b = append(b, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	day := f.WindowEnd.UTC().Format("2006-01-02")
	if d.f == nil || day != d.day {
		if d.f != nil {
			if err := d.closeLocked(); err != nil {
				return err
			}
		}
		name := filepath.Join(d.path, "findings-"+day+".jsonl")
		fh, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("findings file: %w", err)
		}
		d.f, d.day = fh, day
	}
	if _, err := d.f.Write(b); err != nil {
		return fmt.Errorf("write finding: %w", err)
	}
	return nil
}

// Sync flushes the current file to disk.
func (d *Dir) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	return d.f.Sync()
}

// Close syncs and closes the current file.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closeLocked()
}

func (d *Dir) closeLocked() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Sync()
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.f = nil
	if err != nil {
		return fmt.Errorf("close findings file: %w", err)
	}
	return nil
}
