package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gatewatch/gatewatch/detect"
	"github.com/gatewatch/gatewatch/detect/contract"
	"github.com/gatewatch/gatewatch/ingest"
)

// ContractSaveEvery is how often, in wall time, the pipeline saves the
// learnt contract to Options.ContractModelFile (and once more at the end).
const ContractSaveEvery = 5 * time.Minute

// loadContract reads the saved contract model of Options.ContractModelFile
// into the checker's options; a file that does not exist yet is a first
// run. A file that exists but does not load is an error: learning again
// over it would throw away what it holds.
func (p *Pipeline) loadContract() error {
	o, file := p.opts.Contract, p.opts.ContractModelFile
	if o == nil || file == "" || o.Model != nil {
		return nil
	}
	c, err := contract.LoadChecker(file, *o)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pipeline: %w (move it away to learn afresh, or set detect.contract.model_file: off)", err)
	}
	p.checker = c
	st := c.Model().Stats()
	p.log.Info("contract model loaded", "file", file, "routes", st.Routes, "frozen", c.Model().Frozen(), "learned", c.Learned())
	return nil
}

// startContract sets up the contract check, when configured.
func (d *detector) startContract() {
	o := d.p.opts.Contract
	if o == nil {
		return
	}
	d.contract = d.p.checker
	if d.contract == nil {
		d.contract = contract.NewChecker(*o)
	}
	d.savedContract = time.Now()
	d.incidents = contract.NewIncidents(d.contractGap(), func(in *contract.Incident) error {
		if in.Opened() {
			d.emit(in.Finding(detect.StatusResolved))
		}
		return nil
	})
	d.incidents.OnOpen = func(in *contract.Incident) error {
		d.emit(in.Finding(detect.StatusOpen))
		return nil
	}
}

// saveContract writes the learnt contract to Options.ContractModelFile
// when it is time (or at the end, force). A failed save is a warning: the
// model stays in memory and the next save tries again.
func (d *detector) saveContract(now time.Time, force bool) {
	file := d.p.opts.ContractModelFile
	if d.contract == nil || file == "" || (!force && now.Sub(d.savedContract) < ContractSaveEvery) {
		return
	}
	d.savedContract = now
	err := os.MkdirAll(filepath.Dir(file), 0o750)
	if err == nil {
		err = d.contract.Save(file)
	}
	if err != nil {
		d.p.log.Warn("contract model not saved", "err", err)
	}
}

// contractGap is how long a client's quiet ends its contract incident.
func (d *detector) contractGap() time.Duration {
	if g := d.p.opts.ContractGap; g > 0 {
		return g
	}
	return contract.DefaultIncidentGap
}

// checkContract learns or checks ev against the contract; a request
// outside it goes to the store and to its client's incident.
func (d *detector) checkContract(ev *ingest.Event) {
	d.vs = d.contract.Observe(ev, d.vs[:0])
	if len(d.vs) == 0 {
		return
	}
	r := contract.ReportOf(ev, d.vs)
	if _, ok := d.p.opts.Store.(ViolationStore); ok {
		d.violations = append(d.violations, r)
	}
	d.keep(d.incidents.Add(&contract.Located{Report: r}))
}
