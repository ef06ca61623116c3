// Package collect is gatewatch's collector as a library: it runs inputs
// (files, standard input, syslog, the HTTP endpoint, the raw topic — any
// ingest.Source) through the decode step and publishes their events, keyed
// by client, and their rejected lines, keyed by input, to the transport.
// It saves files' read positions once what was read before them is
// delivered, so a restart neither skips nor (beyond the last second)
// repeats lines. "gatewatch collect" reads its configuration and calls
// New(...).Run(ctx).
package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// Publisher is the transport a Collector publishes to;
// *transport.Producer is one.
type Publisher interface {
	// Publish encodes and sends ev keyed by its client (ev is valid only
	// during the call); it blocks while the transport's buffer is full.
	Publish(ctx context.Context, ev *ingest.Event) error
	// PublishRaw sends value under key.
	PublishRaw(ctx context.Context, key, value []byte) error
	// Flush returns once everything published so far is acknowledged.
	Flush(ctx context.Context) error
}

// Options configure a Collector.
type Options struct {
	// Inputs are read in parallel. Required.
	Inputs []ingest.Input
	// Normalizer is how every input's events are normalised.
	Normalizer ingest.NormalizerOptions
	// Events and DeadLetters are where events and rejected lines go.
	// Required.
	Events, DeadLetters Publisher
	// Positions, when set, are the files' read positions: FileSources
	// given the same Positions resume from and record them, and the
	// Collector saves them every PositionsEvery (default 1s) once
	// everything read before is delivered.
	Positions      *ingest.Positions
	PositionsEvery time.Duration
	// Counters, when set, returns the lines and rejects counters of the
	// input named name.
	Counters func(name string) (lines, rejects ingest.Counter)
	// Logger gets progress and problems; default discard.
	Logger *slog.Logger
}

// Collector runs inputs into a transport.
//
// No line stops it: events are cut to the field limits when normalised
// (ingest.Event.Bound), a line longer than its input takes and an event
// the transport refuses for its size (ingest.TooLargeError) go to the dead
// letters with the reason, and a dead letter keeps at most
// ingest.DefaultDeadLetterMaxLine bytes of its line, so it is never too
// large itself. Only a failure of the transport stops an input.
type Collector struct {
	opts Options
	log  *slog.Logger
	dlMu sync.Mutex // rejects come from every input's goroutine
	dl   bytes.Buffer
	dlw  *ingest.DeadLetterWriter // writes to dl
}

// New returns a Collector, or an error for missing options.
func New(opts Options) (*Collector, error) {
	if len(opts.Inputs) == 0 || opts.Events == nil || opts.DeadLetters == nil {
		return nil, errors.New("collect: inputs, events and dead letters are required")
	}
	if opts.PositionsEvery <= 0 {
		opts.PositionsEvery = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Collector{opts: opts, log: log}
	c.dlw = ingest.NewDeadLetterWriter(&c.dl)
	c.dlw.SetSensitiveParams(opts.Normalizer.SensitiveParams)
	return c, nil
}

// Run reads every input until ctx ends (or, when they all end by
// themselves, as standard input does, until then), saves the positions
// and returns the first input error. It flushes the transport, bounded by
// 30 seconds, and saves the final positions only when everything read was
// delivered; closing the publishers is the caller's.
func (c *Collector) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	intakes, err := c.intakes()
	if err != nil {
		return err
	}
	saverCtx, stopSaver := context.WithCancel(ctx)
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		c.savePositions(saverCtx)
	}()
	runErr := c.runInputs(ctx, cancel, intakes)
	stopSaver()
	<-saverDone
	return errors.Join(runErr, c.finish())
}

// intakes makes the decode step of each input.
func (c *Collector) intakes() ([]*ingest.Intake, error) {
	var out []*ingest.Intake
	for _, in := range c.opts.Inputs {
		o := ingest.IntakeOptions{
			Name: in.Source.Name(),
			Decoder: ingest.DecoderOptions{Format: in.Format, ParserOptions: ingest.ParserOptions{LogFormat: in.LogFormat},
				Normalizer: c.opts.Normalizer},
			Emit:    c.opts.Events.Publish,
			Reject:  c.deadLetter,
			Durable: c.durable,
		}
		if c.opts.Counters != nil {
			o.Lines, o.Rejects = c.opts.Counters(o.Name)
		}
		it, err := ingest.NewIntake(o)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", o.Name, err)
		}
		out = append(out, it)
	}
	return out, nil
}

// runInputs runs each input on its own goroutine until all have ended;
// the first to fail stops the others.
func (c *Collector) runInputs(ctx context.Context, cancel context.CancelFunc, intakes []*ingest.Intake) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(intakes))
	for i, in := range c.opts.Inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.Source.Run(ctx, intakes[i]); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("input %s: %w", in.Source.Name(), err)
				cancel()
			}
		}()
	}
	c.log.Info("collecting", "inputs", len(intakes))
	wg.Wait()
	close(errc)
	return <-errc
}

// finish flushes what was read and, when all of it was delivered, saves
// the final positions.
func (c *Collector) finish() error {
	var final map[string]ingest.TailPosition
	if c.opts.Positions != nil {
		final = c.opts.Positions.Snapshot() // every input has stopped: what was read is final
	}
	// Bounded, so a dead transport cannot hang shutdown; what is still
	// buffered then is reported, not hidden.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.opts.Events.Flush(ctx); err != nil {
		return fmt.Errorf("flush events: %w", err)
	}
	if err := c.opts.DeadLetters.Flush(ctx); err != nil {
		return fmt.Errorf("flush dead letters: %w", err)
	}
	if final == nil {
		return nil
	}
	return c.opts.Positions.Save(final)
}

// durable returns once events and dead letters published so far are
// delivered.
func (c *Collector) durable(ctx context.Context) error {
	return errors.Join(c.opts.Events.Flush(ctx), c.opts.DeadLetters.Flush(ctx))
}

// savePositions saves the read positions every PositionsEvery until ctx
// ends, each time only after everything read before the snapshot (events
// and dead letters) was delivered. A crash re-sends at most that long's
// worth of lines (at least once), never skips.
func (c *Collector) savePositions(ctx context.Context) {
	if c.opts.Positions == nil {
		return
	}
	t := time.NewTicker(c.opts.PositionsEvery)
	defer t.Stop()
	var last map[string]ingest.TailPosition
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap := c.opts.Positions.Snapshot()
		if maps.Equal(snap, last) || c.durable(ctx) != nil {
			continue // unchanged; or the transport is down or closing: try again, or the final save does it
		}
		failing := c.opts.Positions.SaveErr() != nil
		if err := c.opts.Positions.Save(snap); err != nil {
			if !failing { // once per outage, not every second
				c.log.Error("saving read positions failed: a restart would re-send what was read since", "err", err)
			}
			continue
		}
		if failing {
			c.log.Info("read positions saved again")
		}
		last = snap
	}
}

// deadLetter publishes a rejected line keyed by its input's label, as the
// same JSON record the embedded pipeline writes to disk, with at most
// ingest.DefaultDeadLetterMaxLine bytes of the line. Should the transport
// still find the record too large (a small message limit), it is sent
// again with only the line's first deadLetterMinLine bytes.
func (c *Collector) deadLetter(ctx context.Context, label string, r ingest.Reject) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	err := c.publishDeadLetter(ctx, label, r, ingest.DefaultDeadLetterMaxLine)
	var tl *ingest.TooLargeError
	if errors.As(err, &tl) && len(r.Text) > deadLetterMinLine {
		c.log.Warn("dead letter too large, keeping less of the line", "label", label, "size", tl.Size, "limit", tl.Limit)
		err = c.publishDeadLetter(ctx, label, r, deadLetterMinLine)
	}
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

// RefusedLabel keys the dead letters of events Kafka refused (Refused).
const RefusedLabel = "kafka-refused"

// Refused dead-letters an event the brokers refused for good (too large
// for the topic's max.message.bytes, an invalid record): value, the
// encoded event, becomes the dead letter's line and err its reason, so
// the refusal loses nothing. Pass it as the events producer's
// transport.ProducerOptions.OnReject; it returns once the dead letter is
// queued, or after 10 seconds with a logged error.
func (c *Collector) Refused(key, value []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := ingest.Reject{Reason: "kafka refused the event: " + err.Error(), Text: refusedText(value)}
	if derr := c.deadLetter(ctx, RefusedLabel, r); derr != nil {
		c.log.Error("an event Kafka refused could not be dead-lettered either", "client", string(key), "refusal", err, "err", derr)
	}
}

// refusedText is the dead letter's line for a refused event: its JSON
// encoding, which a person reads, whatever the producer's wire encoding.
func refusedText(value []byte) []byte {
	var ev ingest.Event
	if err := ingest.DecodeWire(value, &ev); err != nil {
		return value
	}
	return ingest.AppendWire(nil, &ev)
}

// deadLetterMinLine is how much of a line a dead letter keeps when even
// DefaultDeadLetterMaxLine bytes made it too large.
const deadLetterMinLine = 512

// publishDeadLetter encodes r keeping at most maxLine bytes of its line
// and publishes it; c.dlMu must be held.
func (c *Collector) publishDeadLetter(ctx context.Context, label string, r ingest.Reject, maxLine int) error {
	c.dl.Reset()
	c.dlw.SetMaxLine(maxLine)
	if err := c.dlw.Write(label, r); err != nil {
		return err
	}
	if err := c.dlw.Flush(); err != nil {
		return err
	}
	return c.opts.DeadLetters.PublishRaw(ctx, []byte(label), bytes.TrimSuffix(c.dl.Bytes(), []byte{'\n'}))
}
