package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/ingest/transport"
)

// TableState is where one table's consumer of a Store stands
// (Store.States, StoreOptions.OnState).
type TableState struct {
	Table, Topic, Group string
	// Consuming: the Store is a member of the topic's group in a current
	// generation, with Partitions of the topic assigned to it (0 when the
	// group has more members than the topic has partitions).
	Consuming  bool
	Partitions int
	// Reason says why the table is not consuming, "" while it is:
	// "starting", "waiting for topic gatewatch.findings", "waiting for
	// Kafka", "joining consumer group gatewatch-store.gatewatch.events",
	// "no member of group G holds a partition of T", "stopped".
	Reason string
	// Since is when the table entered this state.
	Since time.Time
}

// watchEvery is how often a table without partitions checks that its
// group holds the topic's partitions at all (Store.watchEvery).
const watchEvery = 30 * time.Second

// errStalled: the table's group held none of its topic's partitions at
// two checks in a row.
var errStalled = errors.New("no member of the group holds a partition")

// Health returns nil while every table is consuming (a member of its
// topic's group, even with no partition assigned while other replicas
// hold them all), else why not, one reason per table:
// "not consuming: waiting for topic gatewatch.findings".
func (s *Store) Health() error {
	var why []string
	for _, st := range s.States() {
		if !st.Consuming {
			why = append(why, st.Reason)
		}
	}
	if len(why) > 0 {
		return errors.New("not consuming: " + strings.Join(why, "; "))
	}
	return nil
}

// States returns each table's state, in the order the tables are read.
func (s *Store) States() []TableState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TableState
	for _, t := range s.tables() {
		out = append(out, s.state[t.table])
	}
	return out
}

// setState records t's new state; a change is logged in one line (with
// err, when given) and reported to OnState. The same state again, as a
// retry reports it, is neither.
func (s *Store) setState(t storeTable, st TableState, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.state[t.table]
	if old.Consuming == st.Consuming && old.Partitions == st.Partitions && old.Reason == st.Reason {
		return
	}
	st.Table, st.Topic, st.Group, st.Since = t.table, t.topic, t.group, time.Now()
	s.state[t.table] = st
	log := s.opts.Logger.With("table", t.table, "topic", t.topic, "group", t.group)
	switch {
	case st.Consuming && st.Partitions > 0:
		log.Info("consuming", "partitions", st.Partitions)
	case st.Consuming:
		log.Info("consuming: no partition assigned to this replica; the group's other members hold them")
	case err != nil:
		log.Warn("not consuming: "+st.Reason, "err", err)
	default:
		log.Info("not consuming: " + st.Reason)
	}
	if s.opts.OnState != nil {
		s.opts.OnState(st)
	}
}

// runTable stores t's topic until ctx ends: it waits for the topic
// (creating it when allowed), takes over the legacy group's offsets once,
// then consumes; a consumer the watchdog stopped (the topic vanished, or
// the group held none of its partitions) starts again after a wait.
func (s *Store) runTable(ctx context.Context, t storeTable) error {
	adopted := false
	for wait := s.opts.WaitBackoff.Min; ; {
		parts, err := s.awaitTopic(ctx, t)
		if err != nil {
			return nil // ctx ended
		}
		if !adopted {
			s.adoptOffsets(ctx, t, parts)
			adopted = true
		}
		err = s.consumeTable(ctx, t)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errStalled) && !errors.Is(err, errNoTopic) {
			return err
		}
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(2*wait, s.opts.WaitBackoff.Max)
	}
}

// awaitTopic returns the partition count of t's topic once it exists,
// creating it when allowed. Until then the table is "waiting for topic",
// checking again with WaitBackoff. It fails only when ctx ends.
func (s *Store) awaitTopic(ctx context.Context, t storeTable) (int, error) {
	for wait := s.opts.WaitBackoff.Min; ; wait = min(2*wait, s.opts.WaitBackoff.Max) {
		n, created, err := s.admin.ensureTopic(ctx, t.topic)
		if err == nil {
			if created {
				s.opts.Logger.Info("created topic", "topic", t.topic, "partitions", n)
			}
			return n, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		reason := "waiting for topic " + t.topic
		if !errors.Is(err, errNoTopic) {
			reason = "waiting for Kafka"
		}
		s.setState(t, TableState{Reason: reason}, err)
		if !sleep(ctx, wait) {
			return 0, ctx.Err()
		}
	}
}

// adoptOffsets copies the offsets the Store's Group committed for t's
// topic (earlier versions read every topic as that one group) to t's own
// group, when that has none, so an upgrade does not read the topic again
// from its oldest message. It tries for a minute, then warns and lets
// the group start from its own position.
func (s *Store) adoptOffsets(ctx context.Context, t storeTable, partitions int) {
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var n int
	err := retry(actx, s.opts.WaitBackoff, nil, func(ctx context.Context) (err error) {
		n, err = s.admin.adoptOffsets(ctx, s.opts.Group, t.group, t.topic, partitions)
		return err
	})
	switch {
	case err != nil && ctx.Err() == nil:
		s.opts.Logger.Warn("could not take over the offsets of the previous shared consumer group: the topic's group starts from its own committed offsets, or the oldest message",
			"topic", t.topic, "legacy_group", s.opts.Group, "group", t.group, "err", err)
	case n > 0:
		s.opts.Logger.Info("took over the committed offsets of the previous shared consumer group",
			"topic", t.topic, "legacy_group", s.opts.Group, "group", t.group, "partitions", n)
	}
}

// consumeTable consumes t as a member of its group until ctx ends (nil)
// or the watchdog stops it (errStalled, errNoTopic).
func (s *Store) consumeTable(ctx context.Context, t storeTable) error {
	joining := TableState{Reason: "joining consumer group " + t.group}
	s.setState(t, joining, nil)
	dialer, err := s.opts.Kafka.Dialer()
	if err != nil {
		return err
	}
	r, err := newGroupReader(groupReaderConfig{
		Brokers: s.opts.Kafka.Brokers, Dialer: dialer, Group: t.group, Topic: t.topic,
		MaxWait: transport.DefaultMaxWait, Logger: s.opts.Logger,
		OnJoinError: func(err error) { s.setState(t, joining, err) },
		OnAssigned:  func(n int) { s.setState(t, TableState{Consuming: true, Partitions: n}, nil) },
	})
	if err != nil {
		return err
	}
	defer r.Close()
	cctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watch(cctx, t, stop)
	}()
	err = t.consume(cctx, r, s.consumerOptions(t))
	stop(nil)
	<-watched
	if err == nil && ctx.Err() == nil {
		err = context.Cause(cctx)
	}
	return err
}

// watch checks every watchEvery, while the table holds no partition,
// that the topic still exists and that some member of the group holds
// its partitions. When the topic is gone, or the group held none of them
// at two checks in a row, it stops the consumer through stop.
func (s *Store) watch(ctx context.Context, t storeTable, stop context.CancelCauseFunc) {
	tick := time.NewTicker(s.watchEvery)
	defer tick.Stop()
	misses := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if st := s.tableState(t); st.Consuming && st.Partitions > 0 {
			misses = 0
			continue
		}
		if _, err := s.admin.topicPartitions(ctx, t.topic); errors.Is(err, errNoTopic) {
			s.setState(t, TableState{Reason: "waiting for topic " + t.topic}, err)
			stop(errNoTopic)
			return
		}
		if held, err := s.admin.assigned(ctx, t.group, t.topic); err != nil || held > 0 {
			misses = 0
			continue
		}
		if misses++; misses >= 2 {
			s.setState(t, TableState{Reason: fmt.Sprintf("no member of group %s holds a partition of %s", t.group, t.topic)}, errStalled)
			stop(errStalled)
			return
		}
	}
}

func (s *Store) tableState(t storeTable) TableState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[t.table]
}

// sleep waits about d (jittered down to d/2), false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
