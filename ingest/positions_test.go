package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPositionsRoundTrip(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "state", "positions.json")
	p, err := LoadPositions(file)
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if _, ok := p.Get("/var/log/a.log"); ok {
		t.Fatal("fresh positions hold a position")
	}
	p.Set("/var/log/a.log", TailPosition{Offset: 120, Inode: 7, Truncated: true})
	p.Set("/var/log/b.log", TailPosition{Offset: 5})
	snap := p.Snapshot()
	p.Set("/var/log/a.log", TailPosition{Offset: 999, Inode: 7}) // after the snapshot: not saved
	if err := p.Save(snap); err != nil {
		t.Fatal(err)
	}
	q, err := LoadPositions(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Get("/var/log/a.log"); got != (TailPosition{Offset: 120, Inode: 7}) {
		t.Errorf("a.log = %+v, want offset 120 inode 7", got)
	}
	if got, _ := q.Get("/var/log/b.log"); got.Offset != 5 {
		t.Errorf("b.log = %+v", got)
	}
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestPositionsBadFile(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"garbage": "{not json",
		"version": `{"version": 9, "files": {}}`,
	} {
		file := filepath.Join(t.TempDir(), name+".json")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPositions(file); err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
	var zero Positions
	if err := zero.Save(nil); err == nil {
		t.Error("zero Positions saved without a file")
	}
}

// TestPositionsSaveErr checks that a Save that cannot write (its
// directory's parent is a file, as good as a full or read-only disk) is
// remembered for health checks, and forgotten once a Save succeeds.
func TestPositionsSaveErr(t *testing.T) {
	sub := filepath.Join(t.TempDir(), "sub")
	p, err := LoadPositions(filepath.Join(sub, "positions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sub, nil, 0o600); err != nil { // the directory is a file now
		t.Fatal(err)
	}
	snap := map[string]TailPosition{"/var/log/a.log": {Offset: 10, Inode: 1}}
	if err := p.Save(snap); err == nil || p.SaveErr() == nil {
		t.Fatalf("Save under a file: %v, SaveErr %v; want errors", err, p.SaveErr())
	}
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	if err := p.Save(snap); err != nil || p.SaveErr() != nil {
		t.Errorf("Save once writable: %v, SaveErr %v", err, p.SaveErr())
	}
}
