package group

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/ingest/simulate"
	"github.com/segmentio/kafka-go"
)

// apiEvents are the typed API's simulated requests as wire events, and
// its attacking clients.
func apiEvents(tb testing.TB) ([]wireEvent, map[string]bool) {
	tb.Helper()
	log, labels, err := simulate.APIRequests(simulate.APIConfig{Seed: 4})
	if err != nil {
		tb.Fatal(err)
	}
	attackers := map[string]bool{}
	for _, l := range labels {
		if l.Attack != "" {
			attackers[l.Client] = true
		}
	}
	var evs []wireEvent
	_, err = ingest.ParseStream(context.Background(), bytes.NewReader(log), ingest.StreamOptions{Format: "nginx_combined"},
		func(b *ingest.Batch) error {
			if len(b.Rejects) > 0 {
				tb.Errorf("%d lines rejected: %s", len(b.Rejects), b.Rejects[0].Reason)
			}
			for i := range b.Events {
				ev := &b.Events[i]
				evs = append(evs, wireEvent{key: []byte(ev.ClientKey), value: ingest.AppendWire(nil, ev)})
			}
			return nil
		})
	if err != nil {
		tb.Fatal(err)
	}
	return evs, attackers
}

// TestRunnerChecksTheContract: on the real broker, a Runner learns the
// contract from the typed API's traffic, produces every request outside
// it to the contract topic, reports only attackers as contract incidents
// under seqs of their own, and saves the learnt model.
func TestRunnerChecksTheContract(t *testing.T) {
	t.Parallel()
	cfg := brokerConfig(t)
	evs, attackers := apiEvents(t)
	tp := newTopics(t, cfg)
	publish(t, cfg, tp.events, evs)
	ctopic, file := tp.group+"-contract", filepath.Join(t.TempDir(), "contract-model.json")
	r := runOptions(t, Options{
		Kafka: cfg, GroupID: tp.group, EventsTopic: tp.events, FindingsTopic: tp.findings, StateTopic: tp.state,
		CheckpointEvery: 500 * time.Millisecond, IdleAfter: -1, SessionTimeout: 10 * time.Second,
		Contract:      &contract.CheckerOptions{LearnFor: 50 * time.Minute, MinLearned: 15000},
		ContractTopic: ctopic, ContractModelFile: file,
	})
	waitFor(t, 2*time.Minute, "all events consumed", consumed(len(evs), r))
	r.stop(t)
	st := r.Stats()

	reports, fromNormal := 0, 0
	for _, part := range readAll(t, cfg, ctopic) {
		for _, m := range part {
			var rep contract.Report
			if err := json.Unmarshal(m.Value, &rep); err != nil || len(rep.Violations) == 0 || string(m.Key) != rep.Client {
				t.Fatalf("contract record %s: %v %+v", m.Value, err, rep)
			}
			reports++
			if !attackers[rep.Client] {
				fromNormal++
			}
		}
	}
	if int64(reports) != st.Violations || reports < 1500 || fromNormal > 100 {
		t.Errorf("%d contract records (%d of ordinary clients), Stats.Violations %d", reports, fromNormal, st.Violations)
	}
	checkContractFindings(t, readAll(t, cfg, tp.findings), attackers)

	c, err := contract.LoadChecker(file, contract.CheckerOptions{})
	if err != nil || c.Learning() {
		t.Errorf("saved model: %v, still learning %v", err, c != nil && c.Learning())
	}
	t.Logf("%d events, %d requests outside the contract (%d of ordinary clients); stats %+v", len(evs), reports, fromNormal, st)
}

// checkContractFindings checks the contract findings of the findings
// topic: some, only attackers', every seq unique and of the contract's
// own numbering.
func checkContractFindings(t *testing.T, parts [][]kafka.Message, attackers map[string]bool) {
	t.Helper()
	seqs, opened := map[string]bool{}, 0
	for _, part := range parts {
		for _, m := range part {
			var f detect.Finding
			if err := json.Unmarshal(m.Value, &f); err != nil {
				t.Fatal(err)
			}
			var seq string
			for _, h := range m.Headers {
				if h.Key == SeqHeader {
					seq = string(h.Value)
				}
			}
			if seqs[seq] {
				t.Errorf("seq %s twice", seq)
			}
			seqs[seq] = true
			if f.Detector != detect.DetectorContract {
				continue
			}
			if !strings.Contains(seq, "/c") {
				t.Errorf("contract finding with seq %s", seq)
			}
			if !attackers[f.Client] {
				t.Errorf("ordinary client %s reported: %s", f.Client, f.Summary)
			}
			if f.Status == detect.StatusOpen {
				opened++
			}
		}
	}
	if opened == 0 {
		t.Error("no contract incident opened")
	}
}

// TestRunnerSkipsResentLinesBeforeTheContract: lines a crashed collector
// sent again (same origin and position, later in the topic) are skipped
// before anything looks at them: the engines count every line once
// (Stats.Events), the copies are Stats.Replayed, and no request appears
// twice on the contract topic. A copy used to be skipped by the engine
// only, after the contract check had reported it a second time.
func TestRunnerSkipsResentLinesBeforeTheContract(t *testing.T) {
	t.Parallel()
	cfg := brokerConfig(t)
	log, _, err := simulate.APIRequests(simulate.APIConfig{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	var evs []wireEvent
	_, err = ingest.ParseStream(context.Background(), bytes.NewReader(log), ingest.StreamOptions{Format: "nginx_combined"},
		func(b *ingest.Batch) error {
			for i := range b.Events {
				ev := &b.Events[i]
				ev.Origin, ev.Pos = 0xfeed, int64(len(evs)+1)*100
				ev.RequestID = fmt.Sprint("r", len(evs))
				evs = append(evs, wireEvent{key: []byte(ev.ClientKey), value: ingest.AppendWire(nil, ev)})
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// The collector crashed after publishing everything, its saved
	// position 3,000 lines back: those are published again.
	resent := evs[len(evs)-3000:]
	all := append(slices.Clone(evs), resent...)
	tp := newTopics(t, cfg)
	publish(t, cfg, tp.events, all)
	ctopic := tp.group + "-contract"
	r := runOptions(t, Options{
		Kafka: cfg, GroupID: tp.group, EventsTopic: tp.events, FindingsTopic: tp.findings, StateTopic: tp.state,
		CheckpointEvery: 500 * time.Millisecond, IdleAfter: -1, SessionTimeout: 10 * time.Second,
		Contract:      &contract.CheckerOptions{LearnFor: 50 * time.Minute, MinLearned: 15000},
		ContractTopic: ctopic, ContractModelFile: filepath.Join(t.TempDir(), "contract-model.json"),
	})
	waitFor(t, 2*time.Minute, "all messages read", func() bool {
		st := r.Stats()
		return st.Events+st.Replayed >= int64(len(all))
	})
	r.stop(t)
	st := r.Stats()
	if st.Events != int64(len(evs)) || st.Replayed != int64(len(resent)) {
		t.Errorf("Stats.Events %d, Replayed %d; want %d and %d", st.Events, st.Replayed, len(evs), len(resent))
	}
	seen, twice := map[string]bool{}, 0
	for _, part := range readAll(t, cfg, ctopic) {
		for _, m := range part {
			var rep contract.Report
			if err := json.Unmarshal(m.Value, &rep); err != nil {
				t.Fatal(err)
			}
			if seen[rep.RequestID] {
				twice++
			}
			seen[rep.RequestID] = true
		}
	}
	if twice > 0 || len(seen) < 1500 || int64(len(seen)) != st.Violations {
		t.Errorf("%d requests on the contract topic, %d of them twice; Stats.Violations %d", len(seen), twice, st.Violations)
	}
}
