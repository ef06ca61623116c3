package transport

import (
	"context"

	"github.com/gatewatch/gatewatch/ingest"
)

// RawSource is the Source of the raw topic (ReadRaw): lines other
// shippers put on Kafka, each with the format and source its record
// names. Offsets are committed only after the Handler made what it took
// durable.
type RawSource struct {
	Config  Config
	Options RawOptions
}

// Name returns "raw".
func (s *RawSource) Name() string { return "raw" }

// Run reads the topic until ctx ends.
func (s *RawSource) Run(ctx context.Context, h ingest.Handler) error {
	var l ingest.Line
	handle := func(r RawLine) error {
		l = ingest.Line{Text: r.Line, Number: r.Offset, Format: r.Format, Source: r.Source}
		if l.Source == "" {
			l.Source = "kafka:" + s.Options.Topic
		}
		return h.Line(ctx, &l)
	}
	return ReadRaw(ctx, s.Config, s.Options, handle, h.Durable)
}
