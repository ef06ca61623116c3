package analyze

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
)

// RequestOptions configure Requests, the audit of every request against
// the contract of the API it was sent to (detect/contract).
type RequestOptions struct {
	// Inputs are the logs to judge, in order; "-" is Stdin. Required.
	Inputs []string
	// Stdin is read for the input "-" (default os.Stdin).
	Stdin io.Reader
	// Format, LogFormat and Normalizer are as in Options.
	Format, LogFormat string
	Normalizer        ingest.NormalizerOptions
	// Learn are logs of ordinary traffic the contract is learnt from
	// before the inputs are judged. Without them, the inputs' first part
	// is the learning period: learnt from, not judged (LearnLines, or
	// else LearnShare).
	Learn []string
	// LearnLines, when positive, makes the inputs' first LearnLines lines
	// the learning period.
	LearnLines int64
	// LearnShare is the share of the inputs' bytes, from their start, that
	// is the learning period (DefaultLearnShare when 0). 1 learns from all
	// of the inputs and then reads them again to judge them all (standard
	// input is kept in a temporary file for that): contract.Model's
	// poisoning rules keep attacks from fewer than MinClients clients
	// out of the contract, but not a campaign from many addresses.
	LearnShare float64
	// Contract configures the model.
	Contract contract.Options
	// Spec, when set, also checks every judged request against an API
	// specification (detect/contract/openapi.Spec): its violations follow
	// the learnt contract's in the same report.
	Spec interface {
		Check(ev *ingest.Event, out []contract.Violation) []contract.Violation
	}
	// Output receives one JSON object per request outside the contract
	// (RequestReport), or with ByClient one per client incident
	// (contract.Incident, written when it ends: after IncidentGap of the
	// client's quiet, or at the end of the inputs).
	Output      io.Writer
	ByClient    bool
	IncidentGap time.Duration // default contract.DefaultIncidentGap
	// DeadLetter, when set, keeps every rejected line of the inputs.
	DeadLetter DeadLetter
	// TmpDir holds the copy of standard input (default os.TempDir()).
	TmpDir string
	// MaxLine bounds a line (default 1 MiB); a longer one is rejected.
	MaxLine int
}

// DefaultLearnShare is the share of the input learnt from before the rest
// is judged, when neither learning logs nor a line count are given.
const DefaultLearnShare = 0.25

// RequestReport is one request outside the contract.
type RequestReport struct {
	Input   string               `json:"input"`
	Line    int64                `json:"line"`
	Time    time.Time            `json:"time"`
	Client  string               `json:"client"`
	Method  string               `json:"method"`
	Route   string               `json:"route"`
	Path    string               `json:"path"`
	Status  int                  `json:"status"`
	Reasons []contract.Violation `json:"reasons"`
}

// RequestSummary is what Requests read and judged.
type RequestSummary struct {
	Lines, Rejects  int64 // lines of the judged inputs, and those that did not parse
	Bytes           int64 // their bytes
	Events          int64 // their events (learnt from or judged)
	Learned         int64 // events learnt from
	Judged, Flagged int64 // events judged, and those outside the contract
	ByReason        map[contract.Reason]int64
	Incidents       int64 // client incidents written (ByClient)
}

// Requests learns the contract, judges every request of the inputs
// against it and writes the ones outside it to Output.
func Requests(ctx context.Context, o RequestOptions) (RequestSummary, error) {
	sum := RequestSummary{ByReason: map[contract.Reason]int64{}}
	if len(o.Inputs) == 0 {
		return sum, errors.New("analyze: no input")
	}
	if o.Output == nil {
		o.Output = io.Discard
	}
	if len(o.Normalizer.HMACKey) == 0 { // one key for every reading: one API key stays one client
		n, err := ingest.NewNormalizer(o.Normalizer)
		if err != nil {
			return sum, fmt.Errorf("analyze: %w", err)
		}
		o.Normalizer.HMACKey = n.Key()
	}
	inputs, cleanup, err := o.spoolStdin()
	if err != nil {
		return sum, err
	}
	defer cleanup()
	m := contract.New(o.Contract)
	learnFrom := o.Learn
	if o.learnAll() {
		learnFrom = inputs
	}
	for _, name := range learnFrom {
		if err := o.read(ctx, name, nil, func(_ int64, ev *ingest.Event) { m.Learn(ev); sum.Learned++ }); err != nil {
			return sum, err
		}
	}
	j := judge{o: &o, m: m, sum: &sum, enc: json.NewEncoder(o.Output)}
	if o.ByClient {
		j.incidents = contract.NewIncidents(o.IncidentGap, j.writeIncident)
	}
	if len(o.Learn) == 0 && o.LearnLines <= 0 && !o.learnAll() {
		total, err := totalBytes(inputs)
		if err != nil {
			return sum, err
		}
		j.learnBytes = int64(float64(total) * cmp.Or(o.LearnShare, DefaultLearnShare))
	}
	for i, name := range inputs {
		if err := o.read(ctx, name, &sum, j.event(o.Inputs[i])); err != nil {
			return sum, err
		}
		if j.err != nil {
			return sum, j.err
		}
	}
	if j.incidents != nil {
		if err := j.incidents.Flush(); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// writeIncident writes one client incident (ByClient).
func (j *judge) writeIncident(in *contract.Incident) error {
	j.sum.Incidents++
	if err := j.enc.Encode(in.Summarized()); err != nil {
		return fmt.Errorf("analyze: write: %w", err)
	}
	return nil
}

// judge learns the learning period's events and judges the rest.
type judge struct {
	o      *RequestOptions
	m      *contract.Model
	sum    *RequestSummary
	enc    *json.Encoder
	frozen bool
	// learnBytes: the events of the inputs' first learnBytes bytes are
	// the learning period (0: LearnLines decides).
	learnBytes int64
	vs         []contract.Violation
	incidents  *contract.Incidents // ByClient
	err        error
}

// event returns the handler of input name's events.
func (j *judge) event(name string) func(line int64, ev *ingest.Event) {
	return func(line int64, ev *ingest.Event) {
		if !j.frozen && j.learning() {
			j.m.Learn(ev)
			j.sum.Learned++
			return
		}
		if !j.frozen {
			j.m.Freeze()
			j.frozen = true
		}
		j.sum.Judged++
		j.vs = j.m.Check(ev, j.vs[:0])
		if j.o.Spec != nil {
			j.vs = j.o.Spec.Check(ev, j.vs)
		}
		if len(j.vs) == 0 || j.err != nil {
			return
		}
		j.sum.Flagged++
		for _, v := range j.vs {
			j.sum.ByReason[v.Reason]++
		}
		if j.incidents != nil {
			j.err = j.incidents.Add(&contract.Located{Report: contract.ReportOf(ev, j.vs), Input: name, Line: line})
			return
		}
		j.err = j.enc.Encode(RequestReport{Input: name, Line: line, Time: ev.Time, Client: ev.ClientKey, Method: ev.Method,
			Route: ev.Route, Path: ev.Path, Status: ev.Status, Reasons: j.vs})
	}
}

// learning reports whether the line just read is in the learning period.
func (j *judge) learning() bool {
	switch {
	case len(j.o.Learn) > 0 || j.o.learnAll():
		return false
	case j.o.LearnLines > 0:
		return j.sum.Lines <= j.o.LearnLines
	}
	return j.sum.Bytes <= j.learnBytes
}

// learnAll reports whether the whole input is learnt, then judged.
func (o *RequestOptions) learnAll() bool {
	return len(o.Learn) == 0 && o.LearnLines <= 0 && o.LearnShare >= 1
}

// totalBytes is the size of the named inputs, decompressed.
func totalBytes(names []string) (int64, error) {
	var n int64
	for _, name := range names {
		st, err := os.Stat(name)
		if err != nil {
			return 0, fmt.Errorf("analyze: %w", err)
		}
		if !strings.HasSuffix(name, ".gz") {
			n += st.Size()
			continue
		}
		r, _, err := ingest.OpenInput(name)
		if err != nil {
			return 0, err
		}
		k, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			return 0, fmt.Errorf("analyze: %s: %w", name, err)
		}
		n += k
	}
	return n, nil
}

// read decodes input name line by line, calling f with each event and its
// line number; with sum, it counts lines and rejects there and keeps the
// rejects in the dead letter.
func (o *RequestOptions) read(ctx context.Context, name string, sum *RequestSummary, f func(line int64, ev *ingest.Event)) error {
	dec, err := ingest.NewDecoder(ingest.DecoderOptions{Format: o.Format, ParserOptions: ingest.ParserOptions{LogFormat: o.LogFormat},
		Normalizer: o.Normalizer, MaxSkew: -1})
	if err != nil {
		return err
	}
	r, _, err := ingest.OpenInput(name)
	if err != nil {
		return err
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), max(o.MaxLine, 1<<20))
	var ev ingest.Event
	var line int64
	for sc.Scan() {
		line++
		if line%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if sum != nil {
			sum.Lines++
			sum.Bytes += int64(len(sc.Bytes())) + 1
		}
		err := dec.Decode(sc.Bytes(), &ev)
		switch {
		case errors.Is(err, ingest.ErrEmptyLine):
		case err != nil:
			if sum != nil {
				if err := o.reject(sum, name, line, err, sc.Bytes()); err != nil {
					return err
				}
			}
		default:
			if sum != nil {
				sum.Events++
			}
			f(line, &ev)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: line %d: %w", name, line+1, err)
	}
	return nil
}

// reject counts a line that did not parse and keeps it.
func (o *RequestOptions) reject(sum *RequestSummary, name string, line int64, err error, text []byte) error {
	sum.Rejects++
	if o.DeadLetter == nil {
		return nil
	}
	if err := o.DeadLetter.Write(name, ingest.Reject{Line: line, Reason: err.Error(), Text: text}); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

// spoolStdin copies standard input to a temporary file when it must be
// read twice, and returns the inputs to read.
func (o *RequestOptions) spoolStdin() ([]string, func(), error) {
	inputs := append([]string(nil), o.Inputs...)
	cleanup := func() {}
	for i, name := range inputs {
		if name != "-" {
			continue
		}
		// Read twice (learnAll), or measured for LearnShare: kept in a
		// file either way.
		f, err := os.CreateTemp(o.TmpDir, "gatewatch-stdin-*")
		if err != nil {
			return nil, cleanup, fmt.Errorf("analyze: %w", err)
		}
		cleanup = func() { os.Remove(f.Name()) }
		in := o.Stdin
		if in == nil {
			in = os.Stdin
		}
		_, err = io.Copy(f, in)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, cleanup, fmt.Errorf("analyze: standard input: %w", err)
		}
		inputs[i] = f.Name()
	}
	return inputs, cleanup, nil
}
