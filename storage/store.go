package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/ingest/transport"
)

// Defaults for zero StoreOptions fields.
const (
	DefaultStoreGroup     = "gatewatch-store"
	DefaultEventsTopic    = transport.DefaultTopic
	DefaultFindingsTopic  = "gatewatch.findings"
	DefaultRetentionEvery = time.Hour
)

// StoreOptions configure a Store. The zero value stores DefaultEventsTopic
// and DefaultFindingsTopic from transport.DefaultBroker as consumer group
// DefaultStoreGroup, in batches of BatchOptions' defaults, enforces
// retention hourly and writes no health samples.
type StoreOptions struct {
	// Kafka says how to reach the cluster (TLS, SASL).
	Kafka transport.Config
	// Group is the consumer group (default "gatewatch-store"); Stores
	// sharing it share the topics' partitions.
	Group string
	// EventsTopic holds wire-format events (default "gatewatch.events"),
	// FindingsTopic findings as JSON (default "gatewatch.findings").
	EventsTopic, FindingsTopic string
	// WindowsTopic, when set, holds per-client window records
	// (detect.WindowStats as JSON) for the client_windows table; empty
	// reads none.
	WindowsTopic string
	// ContractTopic, when set, holds the requests outside the API's
	// contract (contract.Report as JSON, one per message) for the
	// contract_violations table (DB.ConsumeViolations); empty reads none.
	ContractTopic string

	// BatchRows, BatchBytes, FlushInterval and Backoff bound each table's
	// batches and the waits between retries of its inserts and commits,
	// as the BatchOptions fields of the same names do (same defaults).
	BatchRows     int
	BatchBytes    int
	FlushInterval time.Duration
	Backoff       Backoff
	// MaxInFlight is how many batches of one table may be inserting
	// while the next fills (default 2; see ConsumerOptions).
	MaxInFlight int

	// RetentionEvery is how often DB.EnforceRetention runs, the first time
	// at once (default 1h); negative never runs it.
	RetentionEvery time.Duration

	// Health, when set, is asked for samples every HealthEvery (default
	// DefaultHealthEvery) and once more after the consumers stopped, and
	// they are written to the pipeline_health table (DB.HealthLoop). Nil
	// writes none.
	Health      func(now time.Time) ([]HealthSample, error)
	HealthEvery time.Duration

	// The callbacks below are for metrics. Each table is consumed on a
	// goroutine of its own and inserts on others, so they must be safe
	// for concurrent use, and must not block.

	// OnBadMessage is called for a message that does not decode (it is
	// skipped and committed; m.Topic names its topic).
	OnBadMessage func(m kafka.Message, err error)
	// OnBatch is called after a batch of table was stored and its offsets
	// committed, with the rows it held. Tables are named as in the schema:
	// "events", "findings", "client_windows", "contract_violations".
	OnBatch func(table string, rows int)
	// OnInsertError is called for every failed insert or commit attempt
	// for table; it is retried.
	OnInsertError func(table string, err error)

	// Logger receives the Store's events (bad messages, failed inserts,
	// retention, kafka-go's errors); nothing is logged when nil.
	Logger *slog.Logger
}

func (o *StoreOptions) setDefaults() {
	if o.Group == "" {
		o.Group = DefaultStoreGroup
	}
	if o.EventsTopic == "" {
		o.EventsTopic = DefaultEventsTopic
	}
	if o.FindingsTopic == "" {
		o.FindingsTopic = DefaultFindingsTopic
	}
	if o.RetentionEvery == 0 {
		o.RetentionEvery = DefaultRetentionEvery
	}
	if o.HealthEvery <= 0 {
		o.HealthEvery = DefaultHealthEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the store consumer of a split deployment ("gatewatch store"):
// one member of a consumer group that reads the events, findings, windows
// and contract topics into ClickHouse (DB.ConsumeEvents,
// DB.ConsumeFindings, DB.ConsumeWindows, DB.ConsumeViolations: offsets are
// committed only once ClickHouse holds the rows), enforces retention
// (DB.RetentionLoop) and records the pipeline's health (DB.HealthLoop).
// Create it with NewStore and call Run once.
type Store struct {
	db   *DB
	opts StoreOptions
}

// NewStore returns a Store that keeps what flows through Kafka in db. It
// checks the Kafka configuration (and reads its TLS and SASL files) but
// does not contact the brokers.
func NewStore(db *DB, opts StoreOptions) (*Store, error) {
	opts.setDefaults()
	if _, err := opts.Kafka.Dialer(); err != nil {
		return nil, fmt.Errorf("storage: store: %w", err)
	}
	return &Store{db: db, opts: opts}, nil
}

// storeTable is one topic and the table it is stored in.
type storeTable struct {
	topic, table string
	consume      func(context.Context, MessageReader, ConsumerOptions) error
}

func (s *Store) tables() []storeTable {
	ts := []storeTable{
		{s.opts.EventsTopic, tableEvents, s.db.ConsumeEvents},
		{s.opts.FindingsTopic, tableFindings, s.db.ConsumeFindings},
	}
	if s.opts.WindowsTopic != "" {
		ts = append(ts, storeTable{s.opts.WindowsTopic, tableWindows, s.db.ConsumeWindows})
	}
	if s.opts.ContractTopic != "" {
		ts = append(ts, storeTable{s.opts.ContractTopic, tableViolations, s.db.ConsumeViolations})
	}
	return ts
}

// Run stores until ctx ends or a table's consumer fails for good (Kafka
// returned an error other than ctx's end), and returns then, after every
// goroutine it started has stopped. On ctx's end each table commits the
// batches ClickHouse already holds, so a clean shutdown replays nothing;
// Run returns nil then. Otherwise it returns the first failure, having
// stopped the other tables.
func (s *Store) Run(ctx context.Context) error {
	tables := s.tables()
	readers := make([]*kafka.Reader, 0, len(tables))
	for _, t := range tables {
		r, err := s.opts.Kafka.GroupReader(t.topic, s.opts.Group, 0, s.opts.Logger)
		if err != nil {
			for _, r := range readers {
				r.Close()
			}
			return fmt.Errorf("store %s: %w", t.table, err)
		}
		readers = append(readers, r)
	}
	// The health samples outlive the consumers: the last one, written
	// after they stopped, holds the final counts.
	stopHealth := s.startHealth(ctx)
	defer stopHealth()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(tables))
	for i, t := range tables {
		wg.Go(func() {
			defer readers[i].Close()
			if err := t.consume(ctx, readers[i], s.consumerOptions(t)); err != nil {
				errc <- fmt.Errorf("store %s: %w", t.table, err)
				cancel()
			}
		})
	}
	if s.opts.RetentionEvery > 0 {
		wg.Go(func() { s.db.RetentionLoop(ctx, s.opts.RetentionEvery, s.logRetention) })
	}
	s.opts.Logger.Info("storing", "events", s.opts.EventsTopic, "findings", s.opts.FindingsTopic,
		"windows", s.opts.WindowsTopic, "contract", s.opts.ContractTopic, "group", s.opts.Group, "clickhouse", s.db.opts.Addr)
	wg.Wait()
	close(errc)
	return <-errc
}

// consumerOptions wires the Store's options and callbacks into one
// table's consumer.
func (s *Store) consumerOptions(t storeTable) ConsumerOptions {
	o, log := s.opts, s.opts.Logger
	return ConsumerOptions{
		BatchOptions: BatchOptions{
			BatchRows: o.BatchRows, BatchBytes: o.BatchBytes, FlushInterval: o.FlushInterval, Backoff: o.Backoff,
			OnError: func(err error) {
				if o.OnInsertError != nil {
					o.OnInsertError(t.table, err)
				}
				log.Warn("clickhouse insert failed; retrying", "err", err)
			},
		},
		OnBadMessage: func(m kafka.Message, err error) {
			if o.OnBadMessage != nil {
				o.OnBadMessage(m, err)
			}
			log.Warn("skipping a message that does not decode", "topic", t.topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		},
		OnBatch: func(rows int) {
			if o.OnBatch != nil {
				o.OnBatch(t.table, rows)
			}
		},
		MaxInFlight: o.MaxInFlight,
	}
}

// startHealth runs the health loop, when Health is set, until the
// returned stop is called; stop waits for its last sample.
func (s *Store) startHealth(ctx context.Context) (stop func()) {
	if s.opts.Health == nil {
		return func() {}
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.db.HealthLoop(hctx, s.opts.HealthEvery, s.opts.Health, func(err error) {
			s.opts.Logger.Warn("pipeline health not written", "err", err)
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

func (s *Store) logRetention(dropped []Dropped, err error) {
	if err != nil {
		s.opts.Logger.Warn("retention", "err", err)
	}
	for _, d := range dropped {
		s.opts.Logger.Info("retention: dropped a day", "table", d.Table, "partition", d.Partition)
	}
}
