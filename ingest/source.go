package ingest

import (
	"context"
	"errors"
)

// Sources.
//
// Every input — a followed file, standard input, a syslog listener, the
// HTTP endpoint, the raw Kafka topic — is a Source with the same shape,
// like CrowdSec's acquisition modules: it reads, and hands what it read to
// a Handler. Adding an input is writing one Run. What happens to a line
// next — the decode step, the dead letter, the metrics — is an Intake's,
// the same for every input.

// Source is one input.
type Source interface {
	// Name names the input in metrics, dead letters and, unless a line
	// says otherwise, the source field of its events.
	Name() string
	// Run reads until ctx ends or the input does (standard input at EOF),
	// calling h from one goroutine at a time. It returns nil when the
	// input ended, ctx's error when cancelled, and otherwise the first
	// error of the input or of h.
	Run(ctx context.Context, h Handler) error
}

// Handler takes what a Source reads. Its methods are called from one
// goroutine at a time; what they are passed is valid only during the call.
type Handler interface {
	// Line takes one raw line: it publishes its event, or rejects the
	// line (keeps it as a dead letter) and sets l.Rejected to why. Either
	// way the line is done with; an error means neither happened (the
	// transport is down or full) and the line is still to be taken.
	Line(ctx context.Context, l *Line) error
	// Event takes an event its sender already normalised (HTTP
	// /v1/events). It returns the reason when it rejected the event (kept
	// as a dead letter), "" when it published it; an error as Line's.
	Event(ctx context.Context, ev *Event) (rejected string, err error)
	// Durable returns once everything handed over so far is safe
	// (published, written). A source that acknowledges its input — a
	// Kafka offset commit — calls it first.
	Durable(ctx context.Context) error
}

// Line is one raw line a Source read.
type Line struct {
	Text []byte
	// Number is the line's number or offset in its input, for dead
	// letters; 0 when unknown.
	Number int64
	// Format is the line's format when its input names one (an HTTP
	// request, a raw record); "" decodes it as the Input says.
	Format string
	// Source is the events' source when the input names one; "" keeps
	// the Source's name.
	Source string
	// Sender, when set, names who sent the line (an HTTP token's name):
	// dead letters are kept under "name:sender".
	Sender string
	// Malformed, when set, says the input could not even frame the line
	// (a syslog frame that is no syslog message, a line over the input's
	// length limit): it is rejected for this reason without decoding.
	Malformed string
	// Origin and Pos are the line's file and position (Event.Origin and
	// Event.Pos), for inputs that have them; Origin 0 otherwise.
	Origin uint64
	Pos    int64
	// Rejected is set by Handler.Line to the reason it rejected the line
	// (kept as a dead letter rather than published); "" when it published
	// the line's event or skipped a blank line.
	Rejected string
}

// Input is a Source and how to decode its lines.
type Input struct {
	Source Source
	// Format names the lines' format (see Formats); "" or "auto" detects
	// it per line. LogFormat is nginx's log_format string, for "nginx".
	Format, LogFormat string
}

// Counter counts; prometheus.Counter is one.
type Counter interface{ Inc() }

// IntakeOptions configure an Intake.
type IntakeOptions struct {
	// Name is the input's: dead letters are kept under it, and events
	// without a source of their own get it.
	Name string
	// Decoder decodes lines that name no format of their own; its
	// Normalizer also serves lines that do. Normalizer.Source defaults to
	// Name.
	Decoder DecoderOptions
	// Emit takes each event (valid only during the call). Required.
	Emit func(ctx context.Context, ev *Event) error
	// Reject takes each rejected line with the label to keep it under
	// (valid only during the call). Required: a reject is never dropped.
	Reject func(ctx context.Context, label string, r Reject) error
	// Durable makes what Emit and Reject took safe; nil when they do
	// already.
	Durable func(ctx context.Context) error
	// Lines and Rejects, when set, count lines read and rejected.
	Lines, Rejects Counter
}

// Intake is the Handler every path from an input to the detectors or the
// transport shares: lines through the Decoder (ErrEmptyLine skipped, failures
// rejected), events as they are, with the Decoder's time check. One per
// input; not for concurrent use (Sources call their Handler from one
// goroutine at a time).
type Intake struct {
	opts     IntakeOptions
	dec      *Decoder
	byFormat map[string]*Decoder // decoders of the formats lines name
	ev       Event
	wire     []byte
}

// NewIntake returns an Intake, or an error for an unknown format or bad
// normaliser options.
func NewIntake(opts IntakeOptions) (*Intake, error) {
	if opts.Emit == nil || opts.Reject == nil {
		return nil, errors.New("intake: Emit and Reject are required")
	}
	if opts.Decoder.Normalizer.Source == "" {
		opts.Decoder.Normalizer.Source = opts.Name
	}
	d, err := NewDecoder(opts.Decoder)
	if err != nil {
		return nil, err
	}
	// Decoders of other formats must key clients the same way.
	opts.Decoder.Normalizer.HMACKey = d.Key()
	return &Intake{opts: opts, dec: d}, nil
}

// Line decodes l and emits its event, or rejects it (l.Rejected says
// why). An event the transport refuses for its size (a TooLargeError from
// Emit) rejects the line with ReasonEventTooLarge: the same event would be
// refused on every retry, so it must not stop the input.
func (in *Intake) Line(ctx context.Context, l *Line) error {
	l.Rejected = ""
	if in.opts.Lines != nil {
		in.opts.Lines.Inc()
	}
	if l.Malformed != "" {
		return in.reject(ctx, l, l.Malformed)
	}
	d, err := in.decoder(l.Format)
	if err == nil {
		err = d.Decode(l.Text, &in.ev)
	}
	switch {
	case errors.Is(err, ErrEmptyLine):
		return nil
	case err != nil:
		return in.reject(ctx, l, err.Error())
	}
	if l.Source != "" {
		in.ev.Source = l.Source
		in.ev.Bound()
	}
	in.ev.Origin, in.ev.Pos = l.Origin, l.Pos
	err = in.opts.Emit(ctx, &in.ev)
	if reason, ok := eventTooLarge(err); ok {
		return in.reject(ctx, l, reason)
	}
	return err
}

// Event emits an event that arrived normalised, cut to the field limits
// (Event.Bound), unless its time is further in the future than the
// Decoder allows or the transport refuses it for its size: then its wire
// encoding is rejected, and the reason returned.
func (in *Intake) Event(ctx context.Context, ev *Event) (string, error) {
	ev.Bound()
	reason := ""
	if err := in.dec.CheckTime(ev); err != nil {
		reason = err.Error()
	} else {
		err := in.opts.Emit(ctx, ev)
		var ok bool
		if reason, ok = eventTooLarge(err); !ok {
			return "", err
		}
	}
	l := Line{Text: AppendWire(in.wire[:0], ev)}
	in.wire = l.Text
	if err := in.reject(ctx, &l, reason); err != nil {
		return "", err
	}
	return reason, nil
}

// eventTooLarge returns the reject reason for Emit's error when the
// transport refused the event for its size.
func eventTooLarge(err error) (string, bool) {
	var tl *TooLargeError
	if err == nil || !errors.As(err, &tl) {
		return "", false
	}
	return ReasonEventTooLarge + " (" + tl.Error() + ")", true
}

// Durable calls IntakeOptions.Durable.
func (in *Intake) Durable(ctx context.Context) error {
	if in.opts.Durable == nil {
		return nil
	}
	return in.opts.Durable(ctx)
}

// decoder returns the decoder for a line of format ("" for the input's).
func (in *Intake) decoder(format string) (*Decoder, error) {
	if format == "" {
		return in.dec, nil
	}
	if d, ok := in.byFormat[format]; ok {
		return d, nil
	}
	d, err := NewDecoder(DecoderOptions{Format: format, Normalizer: in.opts.Decoder.Normalizer,
		MaxSkew: in.opts.Decoder.MaxSkew, Now: in.opts.Decoder.Now})
	if err != nil {
		return nil, err
	}
	if in.byFormat == nil {
		in.byFormat = make(map[string]*Decoder)
	}
	in.byFormat[format] = d
	return d, nil
}

// reject counts a line and passes it to Reject under its label; once
// Reject took it, l.Rejected says why.
func (in *Intake) reject(ctx context.Context, l *Line, reason string) error {
	label := in.opts.Name
	if l.Sender != "" {
		label += ":" + l.Sender
	}
	if err := in.opts.Reject(ctx, label, Reject{Line: l.Number, Reason: reason, Text: l.Text}); err != nil {
		return err
	}
	if in.opts.Rejects != nil {
		in.opts.Rejects.Inc()
	}
	l.Rejected = reason
	return nil
}
