package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest/transport"
	"github.com/gatewatch/gatewatch/internal/config"
	"github.com/gatewatch/gatewatch/storage"
)

// openConfiguredStorage loads the config file at path and connects to
// its ClickHouse without migrating: for "migrate" and "query".
func (c *cli) openConfiguredStorage(ctx context.Context, path string) (*storage.DB, error) {
	cfg, err := c.loadConfig(path)
	if err != nil {
		return nil, err
	}
	return c.openStorage(ctx, cfg, c.logger(cfg.LogLevel), false)
}

// openStorage connects to the ClickHouse the config names and, when
// clickhouse.migrate is on (the default), brings its schema up to date.
func (c *cli) openStorage(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*storage.DB, error) {
	sc := cfg.Storage
	if sc.Addr == "" {
		return nil, errors.New("clickhouse.addr is not set (config file or $GATEWATCH_CLICKHOUSE_ADDR)")
	}
	opts := storage.Options{Addr: sc.Addr, Database: sc.Database, Username: sc.Username, Retention: sc.Retention}
	switch {
	case c.getenv("GATEWATCH_CLICKHOUSE_PASSWORD") != "":
		opts.Password = c.getenv("GATEWATCH_CLICKHOUSE_PASSWORD")
	case sc.PasswordFile != "":
		b, err := os.ReadFile(sc.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse password: %w", err)
		}
		opts.Password = strings.TrimSpace(string(b))
	}
	if sc.TLS.Enabled {
		t, err := storage.TLSFiles{CAFile: sc.TLS.CAFile, CertFile: sc.TLS.CertFile, KeyFile: sc.TLS.KeyFile, ServerName: sc.TLS.ServerName}.Config()
		if err != nil {
			return nil, fmt.Errorf("clickhouse tls: %w", err)
		}
		opts.TLS = t
	}
	db, err := storage.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	log.Info("clickhouse", "addr", sc.Addr, "database", db.Database(), "server", db.Version().String(), "tls", sc.TLS.Enabled)
	if migrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		for _, m := range applied {
			log.Info("clickhouse migration applied", "version", m.Version, "name", m.Name)
		}
	}
	return db, nil
}

// batchOptions are the ClickHouse writer's batching for the config.
func batchOptions(cfg config.StorageConfig, log *slog.Logger) storage.BatchOptions {
	return storage.BatchOptions{
		BatchRows: cfg.BatchRows, FlushInterval: cfg.FlushEvery,
		OnError: func(err error) { log.Warn("clickhouse insert failed; retrying", "err", err) },
	}
}

const migrateHelp = `
Create gatewatch's ClickHouse database and tables, or bring them up to date.
Migrations are versioned and recorded in the schema_migrations table;
applying them again does nothing. "store" and "run" apply them at startup
unless clickhouse.migrate is false. The schema follows the server's version:
LowCardinality, DateTime64 and TTL where the server has them, plain types and
partition drops for retention on older servers such as 18.16.

Examples:
  gatewatch migrate --config gatewatch.yaml
  GATEWATCH_CLICKHOUSE_ADDR=ch-1:9000 gatewatch migrate --status`

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.newFlags("migrate", "[flags]", migrateHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	status := fs.Bool("status", false, "list the migrations and whether each is applied; change nothing")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	db, err := c.openConfiguredStorage(ctx, *configPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if !*status {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "applied %d migration(s) to %s on ClickHouse %s\n", len(applied), db.Database(), db.Version())
	}
	all, err := db.Migrations(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tNAME\tAPPLIED")
	for _, m := range all {
		fmt.Fprintf(w, "%d\t%s\t%v\n", m.Version, m.Name, m.Applied)
	}
	return w.Flush()
}

const storeHelp = `
Store what flows through Kafka in ClickHouse: every event of the events topic
(the audit trail), every finding of the findings topic and every per-client
window of the windows topic (written by "gatewatch detect"), in large batches.
Offsets are committed only after ClickHouse acknowledged the batch holding
them; while ClickHouse is down or slow, store stops reading (Kafka is the
buffer) and retries with backoff, so nothing is lost and memory stays
bounded. A replay after a crash is collapsed by the events' dedup key.
Retention (clickhouse.retention_days) is enforced hourly. Each topic is read
as consumer group "<clickhouse.group>.<topic>"; run several replicas with the
same clickhouse.group to share the partitions. A missing topic is created
(clickhouse.create_topics, clickhouse.topic_partitions) or waited for without
holding back the other topics; /healthz answers 503 "not consuming: waiting
for topic ..." meanwhile. gatewatch_store_rows_total counts the rows stored
and committed: summed over the replicas it never exceeds the rows stored, so
it reaches the number of messages produced when loading is done.

Examples:
  gatewatch store --config gatewatch.yaml
  GATEWATCH_KAFKA_BROKERS=kafka-1:9092 GATEWATCH_CLICKHOUSE_ADDR=ch-1:9000 gatewatch store`

func (c *cli) store(ctx context.Context, args []string) error {
	fs := c.newFlags("store", "[flags]", storeHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	listen := fs.String("listen", "", "address for /metrics and /healthz (default from config: 127.0.0.1:9107)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*configPath)
	if err != nil {
		return err
	}
	if flagSet(fs, "listen") {
		cfg.HTTP.Listen = *listen
	}
	log := c.logger(cfg.LogLevel)
	kc, err := c.kafkaConfig(cfg)
	if err != nil {
		return err
	}
	db, err := c.openStorage(ctx, cfg, log, cfg.Storage.Migrate)
	if err != nil {
		return err
	}
	defer db.Close()

	m := newStoreMetrics()
	opts := storeOptions(cfg, kc, log)
	m.hook(&opts)
	if every := cfg.Storage.HealthEvery; every > 0 {
		opts.Health, opts.HealthEvery = healthSource(m.reg, "store"), every
	}
	st, err := storage.NewStore(db, opts)
	if err != nil {
		return err
	}
	m.consuming = st.Health
	srv, err := serveOps(cfg.HTTP, m.reg, m.healthy, log)
	if err != nil {
		return err
	}
	err = st.Run(ctx)
	if srv != nil {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(shut)
		cancel()
	}
	return err
}

// storeOptions maps the config onto the store consumer's options; the
// caller adds metrics and health.
func storeOptions(cfg config.Config, kc transport.Config, log *slog.Logger) storage.StoreOptions {
	return storage.StoreOptions{
		Kafka:           kc,
		Group:           cfg.Storage.Group,
		EventsTopic:     cfg.Kafka.Topics.Events,
		FindingsTopic:   cfg.Kafka.Topics.Findings,
		WindowsTopic:    cfg.Kafka.Topics.Windows,
		ContractTopic:   contractTopic(cfg),
		CreateTopics:    cfg.Storage.CreateTopics,
		TopicPartitions: cfg.Storage.TopicPartitions,
		BatchRows:       cfg.Storage.BatchRows,
		FlushInterval:   cfg.Storage.FlushEvery,
		Logger:          log,
	}
}

// contractTopic is the topic of requests outside the contract, when
// "detect" checks the contract (kafka.topics.contract, "" otherwise).
func contractTopic(cfg config.Config) string {
	if !cfg.Detect.Contract.Enabled {
		return ""
	}
	return cfg.Kafka.Topics.Contract
}

// storeMetrics are the Prometheus metrics of "store" and its /healthz.
type storeMetrics struct {
	reg              *prometheus.Registry
	stored, inserted *prometheus.CounterVec
	bad              *prometheus.CounterVec
	partitions       *prometheus.GaugeVec
	insertErrors     prometheus.Counter
	lastErr          sync.Map // table -> time of the last failed insert
	// consuming is the Store's Health: nil while every table consumes.
	consuming func() error
}

func newStoreMetrics() *storeMetrics {
	m := &storeMetrics{
		reg: prometheus.NewRegistry(),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_store_rows_total",
			Help: "Rows stored in ClickHouse whose Kafka offsets this replica then committed, by table. A batch re-read after a rebalance is counted by the replica that commits it only: summed over the replicas, never more than the rows stored.",
		}, []string{"table"}),
		inserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_store_rows_inserted_total",
			Help: "Rows inserted into ClickHouse, by table, committed or not: a batch stored again after a crash or a rebalance counts again (the replay collapses by the dedup key).",
		}, []string{"table"}),
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_store_bad_messages_total", Help: "Messages that did not decode (skipped), by topic.",
		}, []string{"topic"}),
		partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewatch_store_partitions",
			Help: "Partitions of the table's topic assigned to this replica; -1 while it is not consuming (waiting for the topic, joining the group).",
		}, []string{"table"}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewatch_store_insert_errors_total", Help: "Failed INSERT attempts (retried).",
		}),
	}
	m.reg.MustRegister(m.stored, m.inserted, m.bad, m.partitions, m.insertErrors, prometheus.NewGoCollector())
	return m
}

// hook counts what the store consumer reports.
func (m *storeMetrics) hook(o *storage.StoreOptions) {
	o.OnBadMessage = func(msg kafka.Message, _ error) { m.bad.WithLabelValues(msg.Topic).Inc() }
	o.OnBatch = func(table string, rows int) { m.stored.WithLabelValues(table).Add(float64(rows)) }
	o.OnInsert = func(table string, rows int) { m.inserted.WithLabelValues(table).Add(float64(rows)) }
	o.OnState = func(st storage.TableState) {
		n := float64(st.Partitions)
		if !st.Consuming {
			n = -1
		}
		m.partitions.WithLabelValues(st.Table).Set(n)
	}
	o.OnInsertError = func(table string, _ error) {
		m.insertErrors.Inc()
		m.lastErr.Store(table, time.Now())
	}
}

// healthy is /healthz: failing while a table is not consuming (with the
// Store's reason: "not consuming: waiting for topic gatewatch.findings")
// or its inserts failed in the last 30 seconds.
func (m *storeMetrics) healthy() error {
	var errs []error
	if m.consuming != nil {
		errs = append(errs, m.consuming())
	}
	var stale []string
	m.lastErr.Range(func(k, v any) bool {
		if time.Since(v.(time.Time)) < 30*time.Second {
			stale = append(stale, k.(string))
		}
		return true
	})
	if len(stale) > 0 {
		sort.Strings(stale)
		errs = append(errs, fmt.Errorf("clickhouse inserts failing: %s", strings.Join(stale, ", ")))
	}
	return errors.Join(errs...)
}

const queryHelp = `
Ask the stored audit trail the common questions. Output is a table, or JSON
with --output json. Times are RFC 3339 (2026-11-23T10:00:00Z) or durations
back from now (--since 6h).

Queries:
  gatewatch query timeline CLIENT   a client's requests in time order
  gatewatch query top               the busiest clients (--by requests|errors|auth_failures)
  gatewatch query findings          incidents not yet resolved, most severe first
  gatewatch query contract [CLIENT] requests outside the API's contract, newest
                                    first, with their reasons; of one client if named
  gatewatch query endpoints [HOST]  the endpoint inventory (run's detect.inventory)
                                    as of --until: the newest snapshot of each

Examples:
  gatewatch query top --by auth_failures --since 24h
  gatewatch query timeline 203.0.113.7 --since 1h --limit 50
  gatewatch query findings --output json | jq .
  gatewatch query contract 203.0.113.7 --since 6h
  gatewatch query endpoints api.example.com --output json | jq 'select(.auth_required | not)'`

func (c *cli) query(ctx context.Context, args []string) error {
	fs := c.newFlags("query", "timeline CLIENT | top | findings | contract [CLIENT] | endpoints [HOST] [flags]", queryHelp)
	configPath := fs.String("config", "", "config file (default $GATEWATCH_CONFIG)")
	since := fs.String("since", "24h", "start of the range: a duration back from now, or an RFC 3339 time")
	until := fs.String("until", "", "end of the range (default now)")
	by := fs.String("by", "requests", "top: rank by requests, errors (5xx) or auth_failures")
	limit := fs.Int("limit", 0, "most rows to return (default: 1000 timeline, 20 top, 100 findings, 100 contract, 10000 endpoints)")
	output := fs.String("output", "table", "table or json")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		fmt.Fprintln(c.stderr, "gatewatch query: name a query: timeline, top, findings, contract or endpoints")
		fs.Usage()
		return errUsage
	}
	from, to, err := parseRange(*since, *until, time.Now())
	if err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("--output %q: want table or json", *output)
	}
	db, err := c.openConfiguredStorage(ctx, *configPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if rest[0] == "top" {
		if _, err := storage.ParseRankBy(*by); err != nil {
			return fmt.Errorf("--by %w", err)
		}
	}
	ans, err := db.Ask(ctx, storage.Question{Name: rest[0], Args: rest[1:], From: from, To: to, By: storage.RankBy(*by), Limit: *limit})
	if err != nil {
		return err
	}
	if *output == "json" {
		return ans.WriteJSON(c.stdout)
	}
	return ans.WriteTable(c.stdout)
}

// parseRange reads --since and --until (empty: now).
func parseRange(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = parseWhen(since, now); err != nil {
		return from, to, fmt.Errorf("--since: %w", err)
	}
	to = now
	if until != "" {
		if to, err = parseWhen(until, now); err != nil {
			return from, to, fmt.Errorf("--until: %w", err)
		}
	}
	return from, to, nil
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (6h) nor an RFC 3339 time", s)
	}
	return t, nil
}
