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
	// Group names the consumer groups (default "gatewatch-store"): each
	// topic is read as a group of its own, StoreGroupID(Group, topic)
	// ("gatewatch-store.gatewatch.events"), so a missing topic or a
	// rebalance of one cannot stall the others. Stores with the same
	// Group share each topic's partitions. A topic's group that has no
	// committed offset yet first takes those Group itself committed for
	// the topic (the one shared group of earlier versions), so an
	// upgraded deployment resumes where it stopped.
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

	// CreateTopics creates a topic the Store reads when it is missing,
	// with TopicPartitions partitions (0: as many as EventsTopic has, else
	// the broker's num.partitions) and the broker's default replication
	// factor. Without it, or while creating fails (no permission), the
	// table waits for its topic, checking again with WaitBackoff; the
	// other tables carry on.
	CreateTopics    bool
	TopicPartitions int
	// WaitBackoff bounds the waits between checks for a missing topic,
	// and before joining a group again after a stall (default 1s to 30s).
	WaitBackoff Backoff

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
	// "events", "findings", "client_windows", "contract_violations". A
	// batch is committed in the group generation that fetched it or not
	// at all, so after a rebalance its rows are counted by one member
	// only: summed over the group, OnBatch never exceeds the rows stored.
	OnBatch func(table string, rows int)
	// OnInsert is called after a batch of table was stored, before its
	// commit: a batch stored again after a crash or a rebalance counts
	// again.
	OnInsert func(table string, rows int)
	// OnState is called when a table's consumer changes state (joins,
	// is assigned partitions, waits for its topic, stops).
	OnState func(TableState)
	// OnInsertError is called for every failed insert or commit attempt
	// for table; it is retried.
	OnInsertError func(table string, err error)

	// Logger receives the Store's events (bad messages, failed inserts,
	// retention, kafka-go's errors); nothing is logged when nil.
	Logger *slog.Logger
}

func (o *StoreOptions) setDefaults() {
	if len(o.Kafka.Brokers) == 0 {
		o.Kafka.Brokers = []string{transport.DefaultBroker}
	}
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
	if o.WaitBackoff.Min <= 0 {
		o.WaitBackoff.Min = time.Second
	}
	if o.WaitBackoff.Max < o.WaitBackoff.Min {
		o.WaitBackoff.Max = max(30*time.Second, o.WaitBackoff.Min)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the store consumer of a split deployment ("gatewatch store"):
// it reads the events, findings, windows and contract topics into
// ClickHouse (DB.ConsumeEvents, DB.ConsumeFindings, DB.ConsumeWindows,
// DB.ConsumeViolations: offsets are committed only once ClickHouse holds
// the rows), each topic as a member of its own consumer group
// (StoreGroupID), enforces retention (DB.RetentionLoop) and records the
// pipeline's health (DB.HealthLoop). A table whose topic is missing
// creates it (CreateTopics) or waits for it without holding back the
// others; Health says which tables are not consuming and why.
// Create it with NewStore and call Run once.
type Store struct {
	db    *DB
	opts  StoreOptions
	admin *kafkaAdmin
	tr    *kafka.Transport
	mu    sync.Mutex
	state map[string]TableState // by table
	// watchEvery is how often a table without partitions checks its
	// group (watchEvery; tests shorten it).
	watchEvery time.Duration
}

// StoreGroupID is the consumer group a Store configured with group reads
// topic as: group + "." + topic.
func StoreGroupID(group, topic string) string { return group + "." + topic }

// NewStore returns a Store that keeps what flows through Kafka in db. It
// checks the Kafka configuration (and reads its TLS and SASL files) but
// does not contact the brokers.
func NewStore(db *DB, opts StoreOptions) (*Store, error) {
	opts.setDefaults()
	if _, err := opts.Kafka.Dialer(); err != nil {
		return nil, fmt.Errorf("storage: store: %w", err)
	}
	tr, err := opts.Kafka.Transport()
	if err != nil {
		return nil, fmt.Errorf("storage: store: %w", err)
	}
	s := &Store{db: db, opts: opts, tr: tr, state: map[string]TableState{}, watchEvery: watchEvery,
		admin: &kafkaAdmin{client: &kafka.Client{Addr: opts.Kafka.Addr(), Transport: tr},
			create: opts.CreateTopics, partitions: opts.TopicPartitions, reference: opts.EventsTopic}}
	for _, t := range s.tables() {
		s.state[t.table] = TableState{Table: t.table, Topic: t.topic, Group: t.group, Reason: "starting", Since: time.Now()}
	}
	return s, nil
}

// storeTable is one topic, the group it is read as and the table it is
// stored in.
type storeTable struct {
	topic, group, table string
	consume             func(context.Context, MessageReader, ConsumerOptions) error
}

func (s *Store) tables() []storeTable {
	table := func(topic, name string, consume func(context.Context, MessageReader, ConsumerOptions) error) storeTable {
		return storeTable{topic: topic, group: StoreGroupID(s.opts.Group, topic), table: name, consume: consume}
	}
	ts := []storeTable{
		table(s.opts.EventsTopic, tableEvents, s.db.ConsumeEvents),
		table(s.opts.FindingsTopic, tableFindings, s.db.ConsumeFindings),
	}
	if s.opts.WindowsTopic != "" {
		ts = append(ts, table(s.opts.WindowsTopic, tableWindows, s.db.ConsumeWindows))
	}
	if s.opts.ContractTopic != "" {
		ts = append(ts, table(s.opts.ContractTopic, tableViolations, s.db.ConsumeViolations))
	}
	return ts
}

// Run stores until ctx ends or a table's consumer fails for good, and
// returns then, after every goroutine it started has stopped. A missing
// topic, an unreachable broker or a group that cannot be joined is not a
// failure: the table waits and retries with backoff, says so once in the
// log and in Health, and the other tables carry on. On ctx's end each
// table commits the batches ClickHouse already holds, so a clean shutdown
// replays nothing; Run returns nil then. Otherwise it returns the first
// failure, having stopped the other tables.
func (s *Store) Run(ctx context.Context) error {
	tables := s.tables()
	// The health samples outlive the consumers: the last one, written
	// after they stopped, holds the final counts.
	stopHealth := s.startHealth(ctx)
	defer stopHealth()
	defer s.tr.CloseIdleConnections()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(tables))
	for _, t := range tables {
		wg.Go(func() {
			if err := s.runTable(ctx, t); err != nil {
				errc <- fmt.Errorf("store %s: %w", t.table, err)
				cancel()
			}
		})
	}
	if s.opts.RetentionEvery > 0 {
		wg.Go(func() { s.db.RetentionLoop(ctx, s.opts.RetentionEvery, s.logRetention) })
	}
	s.opts.Logger.Info("storing", "events", s.opts.EventsTopic, "findings", s.opts.FindingsTopic,
		"windows", s.opts.WindowsTopic, "contract", s.opts.ContractTopic, "groups", s.opts.Group+".<topic>",
		"create_topics", s.opts.CreateTopics, "clickhouse", s.db.opts.Addr)
	wg.Wait()
	for _, t := range tables {
		s.setState(t, TableState{Reason: "stopped"}, nil)
	}
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
		OnInsert: func(rows int) {
			if o.OnInsert != nil {
				o.OnInsert(t.table, rows)
			}
		},
		OnRevoked: func(rows int) {
			log.Info("rebalance: a stored batch was left uncommitted for the partitions' new owner, which stores it again (collapsed by the dedup key)",
				"table", t.table, "group", t.group, "rows", rows)
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
