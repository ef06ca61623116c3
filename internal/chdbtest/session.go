// Package chdbtest runs gatewatch's SQL on a current ClickHouse without a
// server: chdb (ClickHouse 26.9 as a Python library, from PyPI) in a
// Python process running deploy/chdb/run.py. Only ClickHouse 18.16
// installs on the project's machines; these tests check the newer-server
// DDL, every migration and every query's SQL text on a current version.
//
// deploy/test.sh exports GATEWATCH_TEST_CHDB, the python of the venv
// deploy/chdb/chdb.sh makes. Without it a test skips; under CI=true it
// fails (internal/testenv).
//
// Conn is a clickhouse-go driver.Conn over a Session, so storage.DB
// itself (storage.OpenConn) migrates, writes and queries chdb: the SQL
// tested is the SQL the code sends, with its arguments bound as
// clickhouse-go binds them.
package chdbtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

// EnvPython names the environment variable holding the path of the venv's
// python, which deploy/chdb/chdb.sh prints.
const EnvPython = "GATEWATCH_TEST_CHDB"

// Step is one statement for run.py.
type Step struct {
	Name   string         `json:"name,omitempty"`
	SQL    string         `json:"sql"`
	Params map[string]any `json:"params,omitempty"` // {name:Type} placeholders
	Format string         `json:"format,omitempty"` // default JSONCompactEachRowWithNamesAndTypes
}

// Result is run.py's answer to one step. With the default format, Rows
// holds the column names, the column types, then the rows.
type Result struct {
	Name  string            `json:"name"`
	OK    bool              `json:"ok"`
	Error string            `json:"error"`
	Rows  []json.RawMessage `json:"rows"`
	Data  string            `json:"data"`
	MS    float64           `json:"ms"`
}

// Session is one run.py process and its chdb session. It is safe for
// concurrent use; steps run one at a time.
type Session struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	closed bool
}

// Start runs run.py with the python GATEWATCH_TEST_CHDB names, on a
// session directory of the test's; it skips the test without the
// variable (fails under CI=true). The process ends with the test.
func Start(tb testing.TB) *Session {
	tb.Helper()
	python := testenv.Getenv(tb, "chdb venv (ClickHouse 26.9 in-process; deploy/chdb/chdb.sh makes it)", EnvPython)[0]
	runner, err := RunnerPath()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := StartWith(python, runner, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("chdb runner: %v", err)
		}
	})
	return s
}

// RunnerPath finds deploy/chdb/run.py above the working directory (a
// test runs in its package's directory).
func RunnerPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "deploy", "chdb", "run.py")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("chdbtest: deploy/chdb/run.py not found above the working directory")
		}
		dir = parent
	}
}

// StartWith runs runner with python on the session directory dir.
func StartWith(python, runner, dir string) (*Session, error) {
	cmd := exec.Command(python, runner, dir)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("chdbtest: start %s %s: %w", python, runner, err)
	}
	return &Session{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// Run runs one step. A statement the server rejects is a Result with OK
// false and the server's message; the error is for the runner failing.
func (s *Session) Run(st Step) (Result, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Result{}, errors.New("chdbtest: session closed")
	}
	if _, err := s.in.Write(append(b, '\n')); err != nil {
		return Result{}, fmt.Errorf("chdbtest: write to run.py: %w", err)
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		return Result{}, fmt.Errorf("chdbtest: read from run.py: %w", err)
	}
	var r Result
	if err := json.Unmarshal(line, &r); err != nil {
		return Result{}, fmt.Errorf("chdbtest: run.py answered %.200q: %w", line, err)
	}
	return r, nil
}

// Exec runs sql and returns the server's error, if any, as an error.
func (s *Session) Exec(sql string) error {
	r, err := s.Run(Step{SQL: sql})
	if err != nil {
		return err
	}
	if !r.OK {
		return errors.New(r.Error)
	}
	return nil
}

// Close ends run.py and waits for it.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.in.Close()
	return s.cmd.Wait()
}
