package ingest

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
)

// fuzzFormat is the body of every parser's fuzz target: any input must
// parse or fail with a *ParseError, never panic, and a parsed event must
// survive normalisation and cloning, within the field limits. Seeds come
// from the golden inputs.
func fuzzFormat(f *testing.F, format string, opts ParserOptions, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if files, _ := filepath.Glob(filepath.Join("testdata", "golden", format+"*.log")); len(files) > 0 {
		for _, file := range files {
			fh, err := os.Open(file)
			if err != nil {
				f.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				f.Add(append([]byte(nil), sc.Bytes()...))
			}
			fh.Close()
		}
	}
	p, err := NewParser(format, opts)
	if err != nil {
		f.Fatal(err)
	}
	norm, err := NewNormalizer(NormalizerOptions{HMACKey: []byte("fuzz")})
	if err != nil {
		f.Fatal(err)
	}
	var ev Event
	f.Fuzz(func(t *testing.T, line []byte) {
		ev.Reset()
		if err := p.Parse(line, &ev); err != nil {
			if _, ok := err.(*ParseError); !ok && err != ErrEmptyLine {
				t.Fatalf("Parse returned %T %v, want *ParseError", err, err)
			}
			return
		}
		norm.Normalize(&ev)
		c := ev.Clone()
		if c.ClientKey != ev.ClientKey || c.Path != ev.Path || c.Status != ev.Status {
			t.Fatalf("Clone differs: %+v vs %+v", c, ev)
		}
		if ev.Raw != (RawFields{}) {
			t.Fatal("Normalize left raw fields behind")
		}
		checkBounded(t, &ev)
	})
}
