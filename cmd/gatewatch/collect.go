package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/collect"
	"github.com/gatewatch/gatewatch/ingest/transport"

	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/internal/tlsfiles"
)

const collectHelp = `
Collect access logs and ship them to Kafka as normalised events (one JSON
object per message, docs/wire-format.md), keyed by client so all of a
client's events land on one partition in order. Lines that do not parse go to
the dead-letter topic with the reason. No line stops collect: long fields are
cut (path 8 KiB, user agent 1 KiB, ...; the event says "truncated":true), and a
line over 1 MiB or an event still too large for Kafka goes to the dead-letter
topic too.

Inputs: files (followed like tail -F) and standard input from the command line
or ingest.sources, a syslog receiver (collect.syslog_udp/syslog_tcp/syslog_tls,
with per-address connection limits), and an HTTP endpoint with bearer tokens
or client certificates and per-sender rate limits (collect.http:
POST /v1/lines with raw lines, POST /v1/events with NDJSON wire events; the
answer is per line: 200 {"accepted":N,"rejected":[{"line":I,"reason":"..."}]},
or 503 with Retry-After and "retry_from": resend only the lines from there).
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
	if len(cfg.Ingest.Sources) == 0 && !cfg.Collect.Syslog() && cfg.Collect.HTTP.Listen == "" && !cfg.Collect.Raw.Enabled {
		fmt.Fprintln(c.stderr, "gatewatch collect: no inputs: name files (or -), configure ingest.sources, a syslog or HTTP listener, or collect.raw")
		fs.Usage()
		return errUsage
	}
	if err := cfg.Validate(); err != nil {
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
	norm, err := cfg.NormalizerOptions(key)
	if err != nil {
		return err
	}
	refused := &refusals{}
	events, dead, err := openCollectProducers(cfg, kc, refused.onReject)
	if err != nil {
		return err
	}
	positions, err := loadCollectPositions(cfg)
	if err != nil {
		return errors.Join(err, closeProducers(events, dead))
	}
	m := newCollectMetrics(events)
	srv, err := serveOps(cfg.HTTP, m.reg, func() error {
		// Unhealthy while undelivered events wait behind a failing Kafka.
		if st := events.Stats(); st.LastError != nil && st.Buffered > 0 {
			return errors.New("kafka unavailable, events buffered")
		}
		if err := positions.SaveErr(); err != nil {
			return errors.New("read positions cannot be saved (data_dir unwritable or full?)")
		}
		return nil
	}, log)
	if err != nil {
		return errors.Join(err, closeProducers(events, dead))
	}
	runErr := c.runCollector(ctx, cfg, kc, norm, positions, events, dead, refused, m, log)
	errs := []error{runErr, closeProducers(events, dead)}
	if srv != nil {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}
	st := events.Stats()
	log.Info("collect stopped", "published", st.Published, "delivered", st.Delivered)
	return errors.Join(errs...)
}

// runCollector builds the config's inputs and runs the collector library
// (ingest/collect) until ctx ends or the inputs do.
func (c *cli) runCollector(ctx context.Context, cfg config.Config, kc transport.Config, norm ingest.NormalizerOptions,
	positions *ingest.Positions, events, dead *transport.Producer, refused *refusals, m *collectMetrics, log *slog.Logger) error {
	inputs, err := c.collectInputs(cfg, kc, positions, m, log)
	if err != nil {
		return err
	}
	col, err := collect.New(collect.Options{
		Inputs: inputs, Normalizer: norm, Events: events, DeadLetters: dead, Positions: positions, Logger: log,
		Counters: func(name string) (ingest.Counter, ingest.Counter) {
			return m.lines.WithLabelValues(name), m.rejects.WithLabelValues(name)
		},
	})
	if err != nil {
		return err
	}
	refused.col.Store(col)
	log.Info("collecting", "sources", len(cfg.Ingest.Sources), "syslog_udp", cfg.Collect.SyslogUDP,
		"syslog_tcp", cfg.Collect.SyslogTCP, "syslog_tls", cfg.Collect.SyslogTLS.Listen, "kafka", cfg.Kafka.Brokers, "topic", cfg.Kafka.Topics.Events)
	return col.Run(ctx)
}

// loadCollectPositions reads the files' saved read positions.
func loadCollectPositions(cfg config.Config) (*ingest.Positions, error) {
	posFile := cfg.Collect.PositionsFile
	if posFile == "" {
		posFile = filepath.Join(cfg.DataDir, "collect-positions.json")
	}
	return ingest.LoadPositions(posFile)
}

// refusals hands the events Kafka refused for good to the collector's
// dead letter: the producers exist before the collector, which is set
// before anything is published.
type refusals struct {
	col atomic.Pointer[collect.Collector]
}

func (r *refusals) onReject(key, value []byte, err error) {
	if c := r.col.Load(); c != nil {
		c.Refused(key, value, err)
	}
}

// openCollectProducers opens the producers of the events and dead-letter
// topics; onReject receives the events the brokers refused for good.
func openCollectProducers(cfg config.Config, kc transport.Config, onReject func(key, value []byte, err error)) (events, dead *transport.Producer, err error) {
	wire, err := ingest.ParseWireEncoding(cfg.Kafka.Wire)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka.wire: %w", err)
	}
	open := func(topic string, onReject func(key, value []byte, err error)) (*transport.Producer, error) {
		return transport.NewProducer(kc, transport.ProducerOptions{Topic: topic, Compression: cfg.Kafka.Compression,
			Wire: wire, AllowAutoTopicCreation: true, OnReject: onReject})
	}
	if events, err = open(cfg.Kafka.Topics.Events, onReject); err != nil {
		return nil, nil, err
	}
	if dead, err = open(cfg.Kafka.Topics.DeadLetter, nil); err != nil {
		events.Close(context.Background())
		return nil, nil, err
	}
	return events, dead, nil
}

// closeProducers closes both producers. The collector flushed what was
// read (waiting up to 30s for a slow Kafka), so closing has nothing left
// to wait for but what Kafka refused: it is bounded by 5 seconds.
func closeProducers(events, dead *transport.Producer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(events.Close(ctx), dead.Close(ctx))
}

// newCollectMetrics registers the collector's series; the delivery ones
// read the events producer's counters.
func newCollectMetrics(events *transport.Producer) *collectMetrics {
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
	return m
}

// collectInputs builds the inputs the config names: its files and
// standard input, the syslog and HTTP listeners, the raw topic.
func (c *cli) collectInputs(cfg config.Config, kc transport.Config, positions *ingest.Positions, m *collectMetrics, log *slog.Logger) ([]ingest.Input, error) {
	inputs := c.fileInputs(cfg, positions, log)
	cc := cfg.Collect
	if cc.Syslog() {
		srv, err := syslogServer(cc, log)
		if err != nil {
			return nil, err
		}
		if m != nil {
			m.registerSyslog(srv)
		}
		inputs = append(inputs, ingest.Input{Source: &ingest.SyslogListener{Server: srv}, Format: cc.SyslogFormat})
	}
	if cc.HTTP.Listen != "" {
		src, err := httpListener(cc.HTTP, log)
		if err != nil {
			return nil, err
		}
		if m != nil {
			m.registerHTTP(src)
		}
		inputs = append(inputs, ingest.Input{Source: src})
	}
	if cc.Raw.Enabled {
		log.Info("reading raw lines", "topic", cfg.Kafka.Topics.Raw, "group", cc.Raw.Group, "format", cc.Raw.Format)
		src := &transport.RawSource{Config: kc, Options: transport.RawOptions{Topic: cfg.Kafka.Topics.Raw, Group: cc.Raw.Group, Logger: log}}
		inputs = append(inputs, ingest.Input{Source: src, Format: cc.Raw.Format})
	}
	return inputs, nil
}

// fileInputs are the config's files and standard input.
func (c *cli) fileInputs(cfg config.Config, positions *ingest.Positions, log *slog.Logger) []ingest.Input {
	var inputs []ingest.Input
	for _, s := range cfg.Ingest.Sources {
		src := &ingest.FileSource{SourceName: s.Name, Path: s.Path, FromStart: s.FromStart, Stdin: c.stdin, Positions: positions,
			OnResume: func(path string, pos ingest.TailPosition) {
				log.Info("resuming", "source", s.Name, "path", path, "offset", pos.Offset)
			}}
		inputs = append(inputs, ingest.Input{Source: src, Format: s.Format, LogFormat: s.LogFormat})
	}
	return inputs
}

// syslogServer is the syslog receiver the config describes.
func syslogServer(cc config.CollectConfig, log *slog.Logger) (*ingest.SyslogServer, error) {
	tlsCfg, err := syslogServerTLS(cc.SyslogTLS)
	if err != nil {
		return nil, err
	}
	return &ingest.SyslogServer{UDPAddr: cc.SyslogUDP, TCPAddr: cc.SyslogTCP, TLSAddr: cc.SyslogTLS.Listen, TLSConfig: tlsCfg,
		MaxConns: cc.SyslogMaxConns, MaxConnsPerSource: cc.SyslogMaxConnsPerSource,
		FirstFrameTimeout: cc.SyslogFirstFrameTimeout, IdleTimeout: cc.SyslogIdleTimeout, Logger: log}, nil
}

// registerSyslog adds the syslog receiver's connection series: open
// connections, and connections refused or closed by reason (fixed
// label values).
func (m *collectMetrics) registerSyslog(srv *ingest.SyslogServer) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatewatch_syslog_connections", Help: "Syslog TCP and TLS connections open.",
	}, func() float64 { return float64(srv.Stats().Connections) }))
	reasons := []struct {
		label string
		value func(ingest.SyslogStats) int64
	}{
		{"per_source_limit", func(st ingest.SyslogStats) int64 { return st.RejectedPerSource }},
		{"max_conns", func(st ingest.SyslogStats) int64 { return st.RejectedFull }},
		{"evicted", func(st ingest.SyslogStats) int64 { return st.Evicted }},
		{"first_frame_timeout", func(st ingest.SyslogStats) int64 { return st.FirstFrameTimeouts }},
		{"idle_timeout", func(st ingest.SyslogStats) int64 { return st.IdleTimeouts }},
		{"tls_handshake", func(st ingest.SyslogStats) int64 { return st.HandshakeFails }},
	}
	for _, r := range reasons {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "gatewatch_syslog_connections_closed_total",
			Help:        "Syslog connections refused at once (per_source_limit, max_conns) or closed early, by reason.",
			ConstLabels: prometheus.Labels{"reason": r.label},
		}, func() float64 { return float64(r.value(srv.Stats())) }))
	}
}

// registerHTTP adds HTTP ingest's refused requests, by reason (fixed
// label values).
func (m *collectMetrics) registerHTTP(l *ingest.HTTPListener) {
	reasons := []struct {
		label string
		value func(ingest.HTTPSourceStats) int64
	}{
		{"unauthorized", func(st ingest.HTTPSourceStats) int64 { return st.Unauthorized }},
		{"rate_limited", func(st ingest.HTTPSourceStats) int64 { return st.RateLimited }},
		{"too_large", func(st ingest.HTTPSourceStats) int64 { return st.TooLarge }},
		{"bad_request", func(st ingest.HTTPSourceStats) int64 { return st.BadRequests }},
		{"unavailable", func(st ingest.HTTPSourceStats) int64 { return st.CallbackErrors }},
	}
	for _, r := range reasons {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "gatewatch_http_ingest_refused_total",
			Help:        "HTTP ingest requests refused, by reason (401, 429, 413, 400/405/415, 503).",
			ConstLabels: prometheus.Labels{"reason": r.label},
		}, func() float64 { return float64(r.value(l.Stats())) }))
	}
}

// httpListener is the HTTP ingest endpoint the config describes.
func httpListener(hc config.CollectHTTPConfig, log *slog.Logger) (*ingest.HTTPListener, error) {
	opts := ingest.HTTPSourceOptions{Rate: hc.Rate, MaxBodyBytes: hc.MaxBodyBytes, Logger: log, RequireClientCert: hc.ClientCAFile != ""}
	for _, t := range hc.Tokens {
		opts.Tokens = append(opts.Tokens, ingest.HTTPToken{Name: t.Name, File: t.File, Hash: t.Hash})
	}
	if hc.TokenKeyFile != "" {
		k, err := os.ReadFile(hc.TokenKeyFile)
		if err != nil {
			return nil, fmt.Errorf("token key: %w", err)
		}
		opts.TokenKey = bytes.TrimSpace(k)
	}
	l := &ingest.HTTPListener{Addr: hc.Listen, Options: opts, AllowPlainHTTP: hc.AllowPlainHTTP}
	if hc.TLSCertFile != "" {
		t, err := tlsfiles.Files{CertFile: hc.TLSCertFile, KeyFile: hc.TLSKeyFile, CAFile: hc.ClientCAFile}.Server()
		if err != nil {
			return nil, fmt.Errorf("collect.http: %w", err)
		}
		l.TLS = t
	}
	return l, nil
}

// syslogServerTLS loads the syslog TLS listener's certificate and, when a
// client CA is named, requires senders to present a certificate it signed.
func syslogServerTLS(c config.CollectSyslogTLS) (*tls.Config, error) {
	if c.Listen == "" {
		return nil, nil
	}
	cfg, err := tlsfiles.Files{CertFile: c.CertFile, KeyFile: c.KeyFile, CAFile: c.ClientCAFile}.Server()
	if err != nil {
		return nil, fmt.Errorf("collect.syslog_tls: %w", err)
	}
	return cfg, nil
}
