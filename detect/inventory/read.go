package inventory

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gatewatch/gatewatch/ingest"
)

// ReadOptions configure ReadLogs.
type ReadOptions struct {
	// Inputs are access-log files, read in order; "-" is Stdin and names
	// ending in .gz are decompressed. Required.
	Inputs []string
	// Stdin is read for the input "-" (default os.Stdin).
	Stdin io.Reader
	// Format names the log format ("" or "auto" detects it per input);
	// LogFormat is nginx's log_format string, with Format "nginx".
	Format, LogFormat string
	// Normalizer derives client keys and routes. Without an HMAC key one
	// is made for the whole reading, so an API key is one client across
	// the inputs (but not across runs: configure a key for that).
	Normalizer ingest.NormalizerOptions
	// MaxLine bounds a line (default 1 MiB); a longer one ends the
	// reading with an error.
	MaxLine int
}

// InputSummary is what ReadLogs read from one input.
type InputSummary struct {
	Name   string
	Format string // the format its events were parsed as ("" when none)
	Lines  int64
	Events int64 // lines that gave an event
	// Rejects are the lines that did not parse; Sample keeps the first
	// few, for a hint at the right format.
	Rejects int64
	Sample  [][]byte
}

// ReadSummary is what ReadLogs read.
type ReadSummary struct {
	Lines, Events, Rejects int64
	Inputs                 []InputSummary
}

// maxSample bounds the rejected lines kept per input.
const maxSample = 8

// ReadLogs reads the inputs' access logs and observes every event they
// give. Lines that do not parse are counted, not fatal.
func (inv *Inventory) ReadLogs(ctx context.Context, o ReadOptions) (ReadSummary, error) {
	var sum ReadSummary
	if len(o.Inputs) == 0 {
		return sum, errors.New("inventory: no input")
	}
	if len(o.Normalizer.HMACKey) == 0 { // one key for every input
		n, err := ingest.NewNormalizer(o.Normalizer)
		if err != nil {
			return sum, fmt.Errorf("inventory: %w", err)
		}
		o.Normalizer.HMACKey = n.Key()
	}
	for _, name := range o.Inputs {
		in, err := inv.readInput(ctx, &o, name)
		sum.Inputs = append(sum.Inputs, in)
		sum.Lines, sum.Events, sum.Rejects = sum.Lines+in.Lines, sum.Events+in.Events, sum.Rejects+in.Rejects
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// readInput reads one input line by line into the inventory.
func (inv *Inventory) readInput(ctx context.Context, o *ReadOptions, name string) (InputSummary, error) {
	in := InputSummary{Name: name}
	dec, err := ingest.NewDecoder(ingest.DecoderOptions{Format: o.Format, ParserOptions: ingest.ParserOptions{LogFormat: o.LogFormat},
		Normalizer: o.Normalizer, MaxSkew: -1})
	if err != nil {
		return in, fmt.Errorf("inventory: %w", err)
	}
	r, err := o.open(name)
	if err != nil {
		return in, err
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), max(o.MaxLine, 1<<20))
	var ev ingest.Event
	for sc.Scan() {
		if in.Lines++; in.Lines%4096 == 0 && ctx.Err() != nil {
			return in, ctx.Err()
		}
		switch err := dec.Decode(sc.Bytes(), &ev); {
		case errors.Is(err, ingest.ErrEmptyLine):
		case err != nil:
			in.Rejects++
			if len(in.Sample) < maxSample {
				in.Sample = append(in.Sample, append([]byte(nil), sc.Bytes()...))
			}
		default:
			in.Events++
			if in.Format == "" {
				in.Format = ev.Format
			}
			inv.Observe(&ev)
		}
	}
	if err := sc.Err(); err != nil {
		return in, fmt.Errorf("inventory: %s: line %d: %w", name, in.Lines+1, err)
	}
	return in, nil
}

// open opens an input: "-" is Stdin, a .gz name is decompressed.
func (o *ReadOptions) open(name string) (io.ReadCloser, error) {
	if name == "-" && o.Stdin != nil {
		return io.NopCloser(o.Stdin), nil
	}
	r, _, err := ingest.OpenInput(name)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return r, nil
}
