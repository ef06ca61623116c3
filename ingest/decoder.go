package ingest

import (
	"bytes"
	"errors"
	"time"
)

// The decode step.
//
// Every path from a line to an event — a followed file, standard input,
// syslog, the HTTP endpoint, the raw Kafka topic, ParseStream's workers —
// runs the same step, so its policy is decided once: blank lines are
// skipped; a line that does not parse is rejected with the parser's
// reason; a parsed line is normalised; an event timed further in the
// future than MaxSkew is rejected ("timestamp in the future"), because one
// garbled year would drag a detector's watermark past every real event.
// Rejected lines are the caller's to keep (dead letter), never dropped.

// DefaultMaxSkew is how far in the future an event's time may be before
// the Decoder takes it as garbled rather than as a gateway with a fast
// clock.
const DefaultMaxSkew = time.Hour

// ReasonFuture is the reason of a line rejected for a time further in the
// future than MaxSkew.
const ReasonFuture = "timestamp in the future"

// DecoderOptions configure a Decoder. The zero value detects each line's
// format and normalises with a generated HMAC key.
type DecoderOptions struct {
	// Format names the log format (see Formats); "" or "auto" detects it
	// per line.
	Format        string
	ParserOptions ParserOptions
	Normalizer    NormalizerOptions
	// MaxSkew is how far in the future an event may be; 0 means
	// DefaultMaxSkew, negative turns the check off.
	MaxSkew time.Duration
	// Now is the clock the skew is measured against; default time.Now.
	Now func() time.Time
}

// Decoder turns lines into normalised events. It is not safe for
// concurrent use: each goroutine decoding lines has its own.
type Decoder struct {
	parser  Parser
	norm    *Normalizer
	format  string // the configured format, "" when detected per line
	maxSkew time.Duration
	now     func() time.Time
	horizon time.Time // now + maxSkew, refreshed once a second of wall time
}

// NewDecoder returns a Decoder, or an error for an unknown format or bad
// normaliser options.
func NewDecoder(opts DecoderOptions) (*Decoder, error) {
	d := &Decoder{maxSkew: opts.MaxSkew, now: opts.Now}
	if d.maxSkew == 0 {
		d.maxSkew = DefaultMaxSkew
	}
	if d.now == nil {
		d.now = time.Now
	}
	var err error
	if opts.ParserOptions.VerifiedField == "" {
		opts.ParserOptions.VerifiedField = opts.Normalizer.Identity.VerifiedField
	}
	if opts.Format == "" || opts.Format == "auto" {
		d.parser = NewAutoParser(opts.ParserOptions)
	} else if d.parser, err = NewParser(opts.Format, opts.ParserOptions); err != nil {
		return nil, err
	}
	if opts.Format != "auto" {
		d.format = opts.Format
	}
	if d.norm, err = NewNormalizer(opts.Normalizer); err != nil {
		return nil, err
	}
	return d, nil
}

// Decode resets ev and fills it from line. It returns ErrEmptyLine for a
// blank line (not an event, not a reject), and an error whose text is the reason for a line to reject:
// the parser's, or ReasonFuture.
func (d *Decoder) Decode(line []byte, ev *Event) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return ErrEmptyLine
	}
	ev.Reset()
	if err := d.parser.Parse(line, ev); err != nil {
		return err
	}
	if ev.Format == "" {
		ev.Format = d.format
	}
	d.norm.Normalize(ev)
	return d.CheckTime(ev)
}

// CheckTime applies the skew policy to an event decoded elsewhere (one
// that arrived normalised): an error with ReasonFuture when its time is
// further in the future than MaxSkew.
func (d *Decoder) CheckTime(ev *Event) error {
	if d.maxSkew < 0 {
		return nil
	}
	if d.horizon.IsZero() || ev.Time.After(d.horizon) {
		// The horizon moves with the wall clock; refreshing it only when
		// an event passes it keeps time.Now off the per-line path.
		d.horizon = d.now().Add(d.maxSkew)
	}
	if ev.Time.After(d.horizon) {
		return errFuture
	}
	return nil
}

// errFuture is CheckTime's error.
var errFuture = errors.New(ReasonFuture)

// Key returns the HMAC key the Decoder's normaliser uses, so decoders on
// other goroutines can be made to agree on client keys.
func (d *Decoder) Key() []byte { return d.norm.key }
