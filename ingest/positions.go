package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Positions are the saved read positions of followed files, so a restarted
// collector resumes each file where the lines it had delivered end (see
// TailOptions.Offset and Inode). Set records a position as lines are read;
// Save writes a snapshot taken once those lines are durable downstream.
// The zero value holds no positions and cannot Save; use LoadPositions.
// Methods are safe for concurrent use.
type Positions struct {
	file string

	mu   sync.Mutex
	m    map[string]TailPosition
	save sync.Mutex // one Save at a time: they share the temp file
	err  error      // of the last Save, under save
}

// positionsFile is the on-disk form; versioned so it can change.
type positionsFile struct {
	Version int                      `json:"version"`
	Files   map[string]savedPosition `json:"files"`
}

type savedPosition struct {
	Offset int64  `json:"offset"`
	Inode  uint64 `json:"inode,omitempty"`
}

// LoadPositions reads the positions saved in file; a missing file holds
// none. A file that does not parse is an error rather than a silent fresh
// start, which would re-send or skip whole logs.
func LoadPositions(file string) (*Positions, error) {
	p := &Positions{file: file, m: map[string]TailPosition{}}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	var f positionsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("positions %s: %w (move it away to start over)", file, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("positions %s: unknown version %d", file, f.Version)
	}
	for path, s := range f.Files {
		p.m[path] = TailPosition{Offset: s.Offset, Inode: s.Inode}
	}
	return p, nil
}

// Get returns the position recorded for path.
func (p *Positions) Get(path string) (TailPosition, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pos, ok := p.m[path]
	return pos, ok
}

// Set records that path has been read up to pos.
func (p *Positions) Set(path string, pos TailPosition) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]TailPosition{}
	}
	p.m[path] = TailPosition{Offset: pos.Offset, Inode: pos.Inode}
}

// Snapshot returns a copy of the positions recorded so far.
func (p *Positions) Snapshot() map[string]TailPosition {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := make(map[string]TailPosition, len(p.m))
	for k, v := range p.m {
		s[k] = v
	}
	return s
}

// Save writes snap to the positions file atomically (a synced temporary
// file renamed over it), so a crash leaves the old positions or the new,
// never a torn file.
func (p *Positions) Save(snap map[string]TailPosition) error {
	if p.file == "" {
		return errors.New("positions: no file (use LoadPositions)")
	}
	p.save.Lock()
	defer p.save.Unlock()
	p.err = p.write(snap)
	return p.err
}

// SaveErr is the error of the last Save, nil when it succeeded or none
// was made: a health check's answer while positions cannot be kept (the
// directory unwritable or full), when a restart would re-send everything
// read since the last save.
func (p *Positions) SaveErr() error {
	p.save.Lock()
	defer p.save.Unlock()
	return p.err
}

// write is Save's work, under p.save.
func (p *Positions) write(snap map[string]TailPosition) error {
	f := positionsFile{Version: 1, Files: make(map[string]savedPosition, len(snap))}
	for path, pos := range snap {
		f.Files[path] = savedPosition{Offset: pos.Offset, Inode: pos.Inode}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("positions: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p.file), 0o750); err != nil {
		return fmt.Errorf("positions: %w", err)
	}
	tmp := p.file + ".tmp"
	if err := writeSynced(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("positions: %w", err)
	}
	if err := os.Rename(tmp, p.file); err != nil {
		return fmt.Errorf("positions: %w", err)
	}
	return nil
}

func writeSynced(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
