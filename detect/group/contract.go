package group

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
	"github.com/segmentio/kafka-go"
)

// ContractSaveEvery is how often, in wall time, a Runner saves the learnt
// contract to Options.ContractModelFile (and once more when Run returns).
const ContractSaveEvery = 5 * time.Minute

// sharedContract is the contract checker of a Runner, shared by its
// partitions: one model learnt from every event the member reads.
type sharedContract struct {
	mu   sync.Mutex
	c    *contract.Checker
	file string
}

// newSharedContract returns the Runner's checker, from
// Options.ContractModelFile when it exists; nil when the contract is off.
func newSharedContract(opts *Options) (*sharedContract, error) {
	if opts.Contract == nil {
		return nil, nil
	}
	s := &sharedContract{file: opts.ContractModelFile}
	if s.file != "" {
		c, err := contract.LoadChecker(s.file, *opts.Contract)
		switch {
		case err == nil:
			s.c = c
			return s, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%w (move it away to learn afresh, or set detect.contract.model_file: off)", err)
		}
	}
	s.c = contract.NewChecker(*opts.Contract)
	return s, nil
}

// observe learns or checks ev, appending its violations to out.
func (s *sharedContract) observe(ev *ingest.Event, out []contract.Violation) []contract.Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Observe(ev, out)
}

// save writes the model to its file, when it has one.
func (s *sharedContract) save() error {
	if s == nil || s.file == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.file), 0o750); err != nil {
		return fmt.Errorf("contract: save: %w", err)
	}
	return s.c.Save(s.file)
}

// saveContract saves the contract every ContractSaveEvery until stop is
// closed, then once more.
func (r *Runner) saveContract(stop <-chan struct{}) {
	t := time.NewTicker(ContractSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			r.warnSave(r.contract.save())
			return
		}
		r.warnSave(r.contract.save())
	}
}

func (r *Runner) warnSave(err error) {
	if err != nil {
		r.failures.Add(1)
		r.opts.Logger.Warn("detect group: contract model not saved", "err", err)
	}
}

// startContract sets up the partition's contract incidents, when the
// contract is on. They are not part of the state record: see the package
// doc.
func (w *worker) startContract() {
	if w.r.contract == nil {
		return
	}
	gap := w.r.opts.ContractGap
	if gap <= 0 {
		gap = contract.DefaultIncidentGap
	}
	w.contractGap = gap
	w.incidents = contract.NewIncidents(gap, func(in *contract.Incident) error {
		if in.Opened() {
			w.emitContract(in.Finding(detect.StatusResolved))
		}
		return nil
	})
	w.incidents.OnOpen = func(in *contract.Incident) error {
		w.emitContract(in.Finding(detect.StatusOpen))
		return nil
	}
}

// checkContract checks the event of the message at off against the
// contract: a request outside it waits for the checkpoint (ContractTopic)
// and joins its client's incident.
func (w *worker) checkContract(ev *ingest.Event, off int64) {
	if w.incidents == nil {
		return
	}
	w.vs = w.r.contract.observe(ev, w.vs[:0])
	if len(w.vs) == 0 {
		return
	}
	w.r.violations.Add(1)
	rep := contract.ReportOf(ev, w.vs)
	if w.r.contractW != nil {
		if v, err := json.Marshal(rep); err == nil {
			w.reports = append(w.reports, kafka.Message{Key: []byte(rep.Client), Value: v})
		}
	}
	w.contractOff = off
	_ = w.incidents.Add(&contract.Located{Report: rep}) // emit never fails
}

// sweepContract resolves the incidents of clients quiet for the gap, as
// of the partition's newest event time; their findings are attributed to
// the last message read.
func (w *worker) sweepContract() {
	if w.incidents == nil || w.newest == 0 {
		return
	}
	w.contractOff = w.last
	_ = w.incidents.Sweep(time.Unix(0, w.newest).Add(-w.contractGap))
}

// emitContract queues a contract finding like emit, under a seq of its
// own ("<partition>/<offset>/c<n>"): contract incidents are not in the
// state record, so a replay may not repeat them, and they must never take
// the seq of an engine finding.
func (w *worker) emitContract(f detect.Finding) {
	if w.contractOff != w.cSeqOff {
		w.cSeqOff, w.cSeqIdx = w.contractOff, 0
	}
	seq := strconv.AppendInt(nil, int64(w.part), 10)
	seq = append(seq, '/')
	seq = strconv.AppendInt(seq, w.cSeqOff, 10)
	seq = append(seq, "/c"...)
	seq = strconv.AppendUint(seq, w.cSeqIdx, 10)
	w.cSeqIdx++
	w.queueFinding(f, seq)
}
