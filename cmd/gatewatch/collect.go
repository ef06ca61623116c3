package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/transport"

	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

const collectHelp = `
Collect access logs and ship them to Kafka as normalised events (one JSON
object per message, docs/wire-format.md), keyed by client so all of a
client's events land on one partition in order. Lines that do not parse go to
the dead-letter topic with the reason.

Inputs: files (followed like tail -F) and standard input from the command line
or ingest.sources, a syslog receiver (collect.syslog_udp/syslog_tcp), and an
HTTP endpoint with bearer tokens and per-token rate limits (collect.http:
POST /v1/lines with raw lines, POST /v1/events with NDJSON wire events).
Kafka: the kafka section of the config (brokers, TLS, SASL); the SASL password
comes from $GATEWATCH_KAFKA_PASSWORD or kafka.sasl.password_file. When Kafka is
slow or down, collect buffers a bounded amount and then slows its inputs: it
never drops events. SIGTERM stops the inputs and flushes what was read.

Examples:
  gatewatch collect --config gatewatch.yaml
  GATEWATCH_KAFKA_BROKERS=kafka-1:9092 gatewatch collect --format nginx_combined /var/log/nginx/access.log
  gatewatch collect --from-start old-access.log`

// collectMetrics are the Prometheus series of a collector.
type collectMetrics struct {
	reg            *prometheus.Registry
	lines, rejects *prometheus.CounterVec
	published      prometheus.CounterFunc
	buffered       prometheus.GaugeFunc
}

func (c *cli) collect(ctx context.Context, args []string) error {
	fs := c.newFlags("collect", "[flags] [FILE...]", collectHelp)
	var sf sourceFlags
	sf.register(fs)
	cfg, err := c.parseSourceArgs(fs, &sf, args)
	if err != nil {
		return err
	}
	if len(cfg.Ingest.Sources) == 0 && !cfg.Collect.syslog() && cfg.Collect.HTTP.Listen == "" && !cfg.Collect.Raw.Enabled {
		fmt.Fprintln(c.stderr, "gatewatch collect: no inputs: name files (or -), configure ingest.sources, a syslog or HTTP listener, or collect.raw")
		fs.Usage()
		return errUsage
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log := c.logger(cfg.LogLevel)
	kc, err := c.kafkaConfig(cfg)
	if err != nil {
		return err
	}
	key, err := c.hmacKey(cfg, true)
	if err != nil {
		return err
	}
	norm, err := cfg.normalizerOptions(key)
	if err != nil {
		return err
	}
	events, err := transport.NewProducer(kc, transport.ProducerOptions{
		Topic: cfg.Kafka.Topics.Events, Compression: cfg.Kafka.Compression, AllowAutoTopicCreation: true,
	})
	if err != nil {
		return err
	}
	dead, err := transport.NewProducer(kc, transport.ProducerOptions{
		Topic: cfg.Kafka.Topics.DeadLetter, Compression: cfg.Kafka.Compression, AllowAutoTopicCreation: true,
	})
	if err != nil {
		events.Close(context.Background())
		return err
	}
	m := &collectMetrics{
		reg: prometheus.NewRegistry(),
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_ingest_lines_total", Help: "Log lines read, by source.",
		}, []string{"source"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_ingest_parse_errors_total", Help: "Lines that could not be parsed (sent to the dead-letter topic), by source.",
		}, []string{"source"}),
		published: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatewatch_collect_delivered_events_total", Help: "Events acknowledged by Kafka.",
		}, func() float64 { return float64(events.Stats().Delivered) }),
		buffered: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewatch_collect_buffered_events", Help: "Events waiting for Kafka (bounded; inputs slow down when full).",
		}, func() float64 { return float64(events.Stats().Buffered) }),
	}
	m.reg.MustRegister(m.lines, m.rejects, m.published, m.buffered, prometheus.NewGoCollector())
	srv, err := serveOps(cfg.HTTP.Listen, m.reg, func() error {
		// Unhealthy while undelivered events wait behind a failing Kafka.
		if st := events.Stats(); st.LastError != nil && st.Buffered > 0 {
			return errors.New("kafka unavailable, events buffered")
		}
		return nil
	}, log)
	if err != nil {
		return err
	}

	posFile := cfg.Collect.PositionsFile
	if posFile == "" {
		posFile = filepath.Join(cfg.DataDir, "collect-positions.json")
	}
	positions, err := ingest.LoadPositions(posFile)
	if err != nil {
		return err
	}
	col := &collector{cli: c, cfg: cfg, kafka: kc, log: log, norm: norm, events: events, dead: dead, metrics: m, positions: positions}
	runErr := col.run(ctx)
	// Every input has stopped: what was read is final.
	finalPositions := positions.Snapshot()

	// Flush what was read, bounded so a dead Kafka cannot hang shutdown
	// forever; what is still buffered then is reported, not hidden.
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := []error{runErr}
	if err := events.Close(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush events: %w", err))
	}
	if err := dead.Close(flushCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush dead letters: %w", err))
	}
	if len(errs) == 1 { // everything read was delivered
		if err := positions.Save(finalPositions); err != nil {
			errs = append(errs, err)
		}
	}
	if srv != nil {
		srv.Shutdown(flushCtx)
	}
	st := events.Stats()
	log.Info("collect stopped", "published", st.Published, "delivered", st.Delivered)
	return errors.Join(errs...)
}

// collector runs the inputs of "gatewatch collect" into Kafka.
type collector struct {
	cli          *cli
	cfg          Config
	kafka        transport.Config
	log          *slog.Logger
	norm         ingest.NormalizerOptions
	events, dead *transport.Producer
	metrics      *collectMetrics
	positions    *ingest.Positions
	dlMu         sync.Mutex
	dlBuf        bytes.Buffer
}

// run reads every input until ctx ends (or stdin ends, when it is the
// only input) and returns the first input error.
func (col *collector) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(col.cfg.Ingest.Sources)+3) // every input may fail once: sources, http, syslog, raw
	for _, s := range col.cfg.Ingest.Sources {
		h := sourceHooks{
			lines:   col.metrics.lines.WithLabelValues(s.Name),
			rejects: col.metrics.rejects.WithLabelValues(s.Name),
			event:   func(ev *ingest.Event) error { return col.events.Publish(ctx, ev) },
			reject:  func(r ingest.Reject) error { return col.deadLetter(ctx, s.Name, r) },
		}
		if s.Path != "-" && col.positions != nil {
			key := s.Path
			if abs, err := filepath.Abs(s.Path); err == nil {
				key = abs
			}
			if pos, ok := col.positions.Get(key); ok {
				h.resume = pos
				col.log.Info("resuming", "source", s.Name, "path", s.Path, "offset", pos.Offset)
			}
			h.position = func(pos ingest.TailPosition) { col.positions.Set(key, pos) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := readSource(ctx, s, col.norm, col.cli.stdin, h)
			if err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("source %s: %w", s.Name, err)
				cancel()
			}
		}()
	}
	if col.cfg.Collect.HTTP.Listen != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := col.serveHTTPIngest(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("http ingest: %w", err)
				cancel()
			}
		}()
	}
	if col.cfg.Collect.syslog() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := col.syslog(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("syslog: %w", err)
				cancel()
			}
		}()
	}
	if col.cfg.Collect.Raw.Enabled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := col.raw(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("raw lines: %w", err)
				cancel()
			}
		}()
	}
	// The saver runs while the inputs do: it ends when they have all
	// ended (stdin at EOF), not only on cancellation.
	saverCtx, stopSaver := context.WithCancel(ctx)
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		if col.positions != nil {
			col.savePositions(saverCtx)
		}
	}()
	col.log.Info("collecting", "sources", len(col.cfg.Ingest.Sources), "syslog_udp", col.cfg.Collect.SyslogUDP,
		"syslog_tcp", col.cfg.Collect.SyslogTCP, "syslog_tls", col.cfg.Collect.SyslogTLS.Listen, "kafka", col.cfg.Kafka.Brokers, "topic", col.cfg.Kafka.Topics.Events)
	wg.Wait()
	stopSaver()
	<-saverDone
	close(errc)
	return <-errc
}

// positionsEvery is how often collect saves its read positions. A crash
// re-sends at most this long's worth of lines (at least once), never skips.
const positionsEvery = time.Second

// savePositions saves the read positions of files every positionsEvery
// until ctx ends, each time only after everything read before the snapshot
// (events and dead letters) has been acknowledged by Kafka.
func (col *collector) savePositions(ctx context.Context) {
	t := time.NewTicker(positionsEvery)
	defer t.Stop()
	var last map[string]ingest.TailPosition
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap := col.positions.Snapshot()
		if maps.Equal(snap, last) {
			continue
		}
		if err := col.events.Flush(ctx); err != nil {
			continue // Kafka down or shutting down: try again, or the final save does it
		}
		if err := col.dead.Flush(ctx); err != nil {
			continue
		}
		if err := col.positions.Save(snap); err != nil {
			col.log.Warn("saving read positions", "err", err)
			continue
		}
		last = snap
	}
}

// deadLetter sends a rejected line to the dead-letter topic, keyed by
// source, as the same JSON record the embedded pipeline writes to disk.
func (col *collector) deadLetter(ctx context.Context, source string, r ingest.Reject) error {
	col.dlMu.Lock()
	defer col.dlMu.Unlock()
	col.dlBuf.Reset()
	w := ingest.NewDeadLetterWriter(&col.dlBuf)
	if err := w.Write(source, r); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return col.dead.PublishRaw(ctx, []byte(source), bytes.TrimSuffix(col.dlBuf.Bytes(), []byte{'\n'}))
}

// raw parses the lines other shippers write to the raw topic and publishes
// their events; offsets are committed once the events are in Kafka.
func (col *collector) raw(ctx context.Context) error {
	rc := col.cfg.Collect.Raw
	topic := col.cfg.Kafka.Topics.Raw
	norm := col.norm
	norm.Source = "kafka:" + topic
	decoders := decoderCache{norm: norm}
	lines := col.metrics.lines.WithLabelValues("raw")
	rejects := col.metrics.rejects.WithLabelValues("raw")
	var ev ingest.Event
	handle := func(l transport.RawLine) error {
		lines.Inc()
		format := l.Format
		if format == "" {
			format = rc.Format
		}
		d, err := decoders.get(format)
		if err == nil {
			err = d.Decode(l.Line, &ev)
		}
		switch {
		case err == ingest.ErrBlank:
			return nil
		case err != nil:
			rejects.Inc()
			return col.deadLetter(ctx, "raw", ingest.Reject{Line: l.Offset, Reason: err.Error(), Text: l.Line})
		}
		if l.Source != "" {
			ev.Source = l.Source
		}
		return col.events.Publish(ctx, &ev)
	}
	durable := func(ctx context.Context) error {
		return errors.Join(col.events.Flush(ctx), col.dead.Flush(ctx))
	}
	col.log.Info("reading raw lines", "topic", topic, "group", rc.Group, "format", rc.Format)
	return transport.ReadRaw(ctx, col.kafka, transport.RawOptions{Topic: topic, Group: rc.Group, Logger: col.log}, handle, durable)
}

// decoderCache decodes lines of the formats their senders name, with one
// decoder per format, made when first needed.
type decoderCache struct {
	norm ingest.NormalizerOptions
	m    map[string]*ingest.Decoder
}

// get returns the decoder of format ("" or "auto" detects it), or the
// error of an unknown format.
func (c *decoderCache) get(format string) (*ingest.Decoder, error) {
	if d, ok := c.m[format]; ok {
		return d, nil
	}
	d, err := ingest.NewDecoder(ingest.DecoderOptions{Format: format, Normalizer: c.norm})
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[string]*ingest.Decoder)
	}
	c.m[format] = d
	return d, nil
}

// syslog receives access-log lines as syslog message bodies.
func (col *collector) syslog(ctx context.Context) error {
	norm := col.norm
	norm.Source = "syslog"
	d, err := ingest.NewDecoder(ingest.DecoderOptions{Format: col.cfg.Collect.SyslogFormat, Normalizer: norm})
	if err != nil {
		return err
	}
	lines := col.metrics.lines.WithLabelValues("syslog")
	rejects := col.metrics.rejects.WithLabelValues("syslog")
	tlsCfg, err := col.cfg.Collect.SyslogTLS.serverTLS()
	if err != nil {
		return err
	}
	srv := &ingest.SyslogServer{
		UDPAddr:   col.cfg.Collect.SyslogUDP,
		TCPAddr:   col.cfg.Collect.SyslogTCP,
		TLSAddr:   col.cfg.Collect.SyslogTLS.Listen,
		TLSConfig: tlsCfg,
		Logger:    col.log,
		OnMalformed: func(raw []byte, reason string) {
			rejects.Inc()
			if err := col.deadLetter(ctx, "syslog", ingest.Reject{Reason: "syslog: " + reason, Text: raw}); err != nil {
				col.log.Warn("dead letter", "err", err)
			}
		},
	}
	var mu sync.Mutex // the server calls back from one goroutine per connection
	var ev ingest.Event
	return srv.Serve(ctx, func(src ingest.SyslogSource, m ingest.SyslogMessage) error {
		mu.Lock()
		defer mu.Unlock()
		lines.Inc()
		switch err := d.Decode(m.Message, &ev); {
		case err == ingest.ErrBlank:
			return nil
		case err != nil:
			rejects.Inc()
			return col.deadLetter(ctx, "syslog", ingest.Reject{Reason: err.Error(), Text: m.Message})
		}
		return col.events.Publish(ctx, &ev)
	})
}

// serveHTTPIngest runs the authenticated HTTP ingest endpoint until ctx
// ends. Lines are parsed here (format from the request, else auto);
// events arrive already normalised by the sender.
func (col *collector) serveHTTPIngest(ctx context.Context) error {
	hc := col.cfg.Collect.HTTP
	opts := ingest.HTTPSourceOptions{Rate: hc.Rate, MaxBodyBytes: hc.MaxBodyBytes, Logger: col.log}
	for _, t := range hc.Tokens {
		opts.Tokens = append(opts.Tokens, ingest.HTTPToken{Name: t.Name, File: t.File, Hash: t.Hash})
	}
	if hc.TokenKeyFile != "" {
		k, err := os.ReadFile(hc.TokenKeyFile)
		if err != nil {
			return fmt.Errorf("token key: %w", err)
		}
		opts.TokenKey = bytes.TrimSpace(k)
	}
	norm := col.norm
	norm.Source = "http"
	lines := col.metrics.lines.WithLabelValues("http")
	rejects := col.metrics.rejects.WithLabelValues("http")
	var mu sync.Mutex // decoders are not for concurrent use
	decoders := decoderCache{norm: norm}
	src, err := ingest.NewHTTPSource(opts, func(ctx context.Context, b ingest.HTTPBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range b.Events {
			if err := col.events.Publish(ctx, &b.Events[i]); err != nil {
				return err
			}
		}
		if len(b.Lines) == 0 {
			return nil
		}
		d, err := decoders.get(b.Format)
		if err != nil {
			return err // the request names an unknown format: refused whole
		}
		var ev ingest.Event
		for i, line := range b.Lines {
			lines.Inc()
			err := d.Decode(line, &ev)
			if err == ingest.ErrBlank {
				continue
			} else if err != nil {
				rejects.Inc()
				if err := col.deadLetter(ctx, "http:"+b.Identity, ingest.Reject{Line: int64(i + 1), Reason: err.Error(), Text: line}); err != nil {
					return err
				}
				continue
			}
			if b.Source != "" {
				ev.Source = b.Source
			}
			if err := col.events.Publish(ctx, &ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", hc.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: src, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	col.log.Info("http ingest", "listen", ln.Addr().String(), "tls", hc.TLSCertFile != "")
	errc := make(chan error, 1)
	go func() {
		if hc.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, hc.TLSCertFile, hc.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut) // lets requests in flight finish and publish
		<-errc
		return ctx.Err()
	}
}

// syslog reports whether any syslog listener is configured.
func (c CollectConfig) syslog() bool {
	return c.SyslogUDP != "" || c.SyslogTCP != "" || c.SyslogTLS.Listen != ""
}

// serverTLS loads the syslog TLS listener's certificate and, when a client
// CA is named, requires senders to present a certificate it signed.
func (c CollectSyslogTLS) serverTLS() (*tls.Config, error) {
	if c.Listen == "" {
		return nil, nil
	}
	cfg, err := tlsfiles.Files{CertFile: c.CertFile, KeyFile: c.KeyFile, CAFile: c.ClientCAFile}.Server()
	if err != nil {
		return nil, fmt.Errorf("collect.syslog_tls: %w", err)
	}
	return cfg, nil
}
