package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gatewatch/gatewatch/detect/inventory"
	"github.com/gatewatch/gatewatch/ingest"
)

// InventoryEvery is how often, in wall time, the pipeline saves the
// endpoint inventory to Options.InventoryFile and hands a snapshot of it
// to the store (and once more at the end).
const InventoryEvery = 5 * time.Minute

// EndpointStore is a Store that also keeps snapshots of the endpoint
// inventory (storage.Writer does).
type EndpointStore interface {
	WriteEndpoints(ctx context.Context, snapshot time.Time, eps []inventory.Endpoint) error
}

// loadInventory sets up the endpoint inventory, from Options.InventoryFile
// when it exists; one that does not load is an error.
func (p *Pipeline) loadInventory() error {
	o := p.opts.Inventory
	if o == nil {
		return nil
	}
	if file := p.opts.InventoryFile; file != "" {
		inv, err := inventory.Load(file)
		switch {
		case err == nil:
			p.inv = inv
			p.log.Info("endpoint inventory loaded", "file", file, "endpoints", len(inv.Endpoints()))
			return nil
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("pipeline: %w (move it away to start afresh, or set detect.inventory.file: off)", err)
		}
	}
	p.inv = inventory.New(*o)
	return nil
}

// observeInventory counts ev in the inventory, when it is on.
func (d *detector) observeInventory(ev *ingest.Event) {
	if d.p.inv != nil {
		d.p.inv.Observe(ev)
	}
}

// snapshotInventory saves the inventory and hands it to the store when it
// is time (or at the end, force). Failures are warnings: the inventory
// stays in memory and the next snapshot tries again.
func (d *detector) snapshotInventory(ctx context.Context, now time.Time, force bool) {
	inv := d.p.inv
	if inv == nil || (!force && now.Sub(d.savedInventory) < InventoryEvery) {
		return
	}
	d.savedInventory = now
	if file := d.p.opts.InventoryFile; file != "" {
		err := os.MkdirAll(filepath.Dir(file), 0o750)
		if err == nil {
			err = inv.Save(file)
		}
		if err != nil {
			d.p.log.Warn("endpoint inventory not saved", "err", err)
		}
	}
	if es, ok := d.p.opts.Store.(EndpointStore); ok {
		eps := inv.Endpoints()
		if len(eps) == 0 {
			return
		}
		if err := es.WriteEndpoints(ctx, now.UTC(), eps); err != nil && ctx.Err() == nil {
			d.p.log.Warn("endpoint inventory not stored", "err", err)
		}
	}
}
