package inventory

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/internal/atomicfile"
)

// FileFormat and FileVersion identify a saved inventory. Load refuses a
// file of another format or version, rather than guess at its counts.
const (
	FileFormat  = "gatewatch.endpoint-inventory"
	FileVersion = 1
)

// file is the saved form of an Inventory, version 1. Unlike Endpoint it
// keeps the sketches themselves, so counting can go on after Load.
type file struct {
	Format       string       `json:"format"`
	Version      int          `json:"version"`
	SavedAt      time.Time    `json:"saved_at,omitzero"`
	MaxEndpoints int          `json:"max_endpoints"`
	Evicted      int64        `json:"evicted"`
	Skipped      int64        `json:"skipped"`
	Endpoints    []savedPoint `json:"endpoints"`
}

// savedPoint is one endpoint in a saved inventory.
type savedPoint struct {
	Host       string    `json:"host"`
	Method     string    `json:"method"`
	Route      string    `json:"route"`
	Requests   int64     `json:"requests"`
	Status     StatusMix `json:"status"`
	Anon       int64     `json:"anonymous"`
	AnonDenied int64     `json:"anonymous_denied"`
	Cred       int64     `json:"credentialed"`
	CredDenied int64     `json:"credentialed_denied"`
	FirstSeen  time.Time `json:"first_seen,omitzero"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	Versions   []string  `json:"versions,omitempty"`
	// Clients are the HyperLogLog registers (base64 in JSON);
	// ClientsExact the hashes of the first clients, while at most
	// fewClients came, else ClientsMany.
	Clients      []byte   `json:"clients_hll"`
	ClientsExact []uint32 `json:"clients_exact,omitempty"`
	ClientsMany  bool     `json:"clients_many,omitempty"`
	// Sizes are the non-empty buckets of the size histogram: [bucket,
	// count] pairs.
	Sizes [][2]int `json:"sizes_hist"`
}

// Encode writes the inventory in its saved form (JSON, FileFormat
// version FileVersion) to w.
func (inv *Inventory) Encode(w io.Writer) error {
	f := file{Format: FileFormat, Version: FileVersion, SavedAt: time.Now().UTC(), MaxEndpoints: inv.max,
		Evicted: inv.evicted, Skipped: inv.skipped, Endpoints: make([]savedPoint, 0, len(inv.list))}
	for _, e := range inv.list {
		f.Endpoints = append(f.Endpoints, e.saved())
	}
	slices.SortFunc(f.Endpoints, func(a, b savedPoint) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), strings.Compare(a.Route, b.Route), strings.Compare(a.Method, b.Method))
	})
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("inventory: encode: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("inventory: encode: %w", err)
	}
	return nil
}

// saved is e in its saved form.
func (e *endpoint) saved() savedPoint {
	s := e.status
	p := savedPoint{Host: e.host, Method: e.method, Route: e.route, Requests: e.requests,
		Status: StatusMix{S2xx: s[s2xx], S3xx: s[s3xx], S4xx: s[s4xx], S5xx: s[s5xx], S401403: s[s401403], NotFound: s[s404]},
		Anon:   e.anon, AnonDenied: e.anonDenied, Cred: e.cred, CredDenied: e.credDenied,
		Versions: slices.Sorted(slices.Values(e.versions)), Clients: e.clients.regs[:]}
	if e.clients.nfew == manyClients {
		p.ClientsMany = true
	} else {
		p.ClientsExact = e.clients.few[:e.clients.nfew]
	}
	if e.first != 0 {
		p.FirstSeen, p.LastSeen = time.Unix(0, e.first).UTC(), time.Unix(0, e.last).UTC()
	}
	for i, c := range e.sizes {
		if c > 0 {
			p.Sizes = append(p.Sizes, [2]int{i, int(c)})
		}
	}
	return p
}

// Save writes the inventory to path atomically: a temporary file in the
// same directory, synced, then renamed over path, so a crash leaves the
// old inventory or the new one, never a torn file.
func (inv *Inventory) Save(path string) error {
	if err := atomicfile.Write(path, inv.Encode); err != nil {
		return fmt.Errorf("inventory: save %s: %w", path, err)
	}
	return nil
}

// Load restores an inventory saved with Save, with the MaxEndpoints it
// was saved with, so observing can continue where it stopped.
func Load(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	inv, err := decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("inventory: %s: %w", path, err)
	}
	return inv, nil
}

// ErrFormat is wrapped by the errors of Decode and Load for a file that
// is not a saved inventory this version of gatewatch reads.
var ErrFormat = errors.New("not an endpoint inventory this gatewatch reads")

// Decode reads an inventory in its saved form (see Encode). A file of
// another format or version, or with inconsistent counts, is an error
// wrapping ErrFormat.
func Decode(r io.Reader) (*Inventory, error) {
	inv, err := decode(r)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return inv, nil
}

// decode is Decode without the package's prefix on errors.
func decode(r io.Reader) (*Inventory, error) {
	var f file
	dec := json.NewDecoder(r)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the inventory", ErrFormat)
	}
	switch {
	case f.Format != FileFormat:
		return nil, fmt.Errorf("%w: format %q, want %q", ErrFormat, f.Format, FileFormat)
	case f.Version != FileVersion:
		return nil, fmt.Errorf("%w: unknown version %d (this gatewatch reads version %d)", ErrFormat, f.Version, FileVersion)
	case f.Evicted < 0 || f.Skipped < 0:
		return nil, fmt.Errorf("%w: negative counters", ErrFormat)
	}
	inv := New(Options{MaxEndpoints: f.MaxEndpoints})
	if len(f.Endpoints) > inv.max {
		return nil, fmt.Errorf("%w: %d endpoints, more than max_endpoints %d", ErrFormat, len(f.Endpoints), inv.max)
	}
	inv.evicted, inv.skipped = f.Evicted, f.Skipped
	for i := range f.Endpoints {
		p := &f.Endpoints[i]
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("%w: endpoint %d (%s %s %s): %w", ErrFormat, i, p.Host, p.Method, p.Route, err)
		}
		k := key{p.Host, p.Method, p.Route}
		if inv.byKey[k] != nil {
			return nil, fmt.Errorf("%w: endpoint %d (%s %s %s) appears twice", ErrFormat, i, p.Host, p.Method, p.Route)
		}
		inv.insert(k).restore(p)
	}
	return inv, nil
}

// check reports what makes a saved endpoint inconsistent.
func (p *savedPoint) check() error {
	s := p.Status
	switch {
	case p.Route == "":
		return errors.New("no route")
	case p.Requests < 0 || s.S2xx < 0 || s.S3xx < 0 || s.S4xx < 0 || s.S5xx < 0 || s.S401403 < 0 || s.NotFound < 0 ||
		p.Anon < 0 || p.AnonDenied < 0 || p.Cred < 0 || p.CredDenied < 0:
		return errors.New("negative count")
	case s.S2xx > p.Requests || s.S3xx > p.Requests || s.S4xx > p.Requests || s.S5xx > p.Requests ||
		s.S2xx+s.S3xx+s.S4xx+s.S5xx > p.Requests || s.S401403+s.NotFound > s.S4xx:
		return errors.New("status counts do not add up to the requests")
	case p.Anon > p.Requests || p.Cred != p.Requests-p.Anon || p.AnonDenied > p.Anon || p.CredDenied > p.Cred:
		return errors.New("authentication counts do not add up to the requests")
	case p.FirstSeen.IsZero() != p.LastSeen.IsZero() || p.LastSeen.Before(p.FirstSeen):
		return errors.New("first seen after last seen")
	case len(p.Versions) > MaxVersions:
		return fmt.Errorf("%d versions, more than %d", len(p.Versions), MaxVersions)
	case len(p.Clients) != hllRegisters:
		return fmt.Errorf("clients sketch of %d registers, want %d", len(p.Clients), hllRegisters)
	}
	for _, r := range p.Clients {
		if r > hllMaxRank {
			return fmt.Errorf("clients sketch register %d out of range", r)
		}
	}
	if len(p.ClientsExact) > fewClients || p.ClientsMany && len(p.ClientsExact) > 0 {
		return errors.New("exact clients and many clients")
	}
	for i, h := range p.ClientsExact {
		if slices.Contains(p.ClientsExact[:i], h) {
			return errors.New("exact clients repeated")
		}
	}
	for _, b := range p.Sizes {
		if b[0] < 0 || b[0] >= histBuckets || b[1] <= 0 || b[1] > 1<<16-1 {
			return fmt.Errorf("size bucket %v out of range", b)
		}
	}
	for i, v := range p.Versions {
		if v == "" || slices.Contains(p.Versions[:i], v) {
			return fmt.Errorf("version %q empty or repeated", v)
		}
	}
	return nil
}

// restore fills e from its checked saved form.
func (e *endpoint) restore(p *savedPoint) {
	e.requests = p.Requests
	s := p.Status
	e.status = [statusSlots]int64{s2xx: s.S2xx, s3xx: s.S3xx, s4xx: s.S4xx, s5xx: s.S5xx, s401403: s.S401403, s404: s.NotFound}
	e.anon, e.anonDenied, e.cred, e.credDenied = p.Anon, p.AnonDenied, p.Cred, p.CredDenied
	if !p.FirstSeen.IsZero() {
		e.first, e.last = p.FirstSeen.UnixNano(), p.LastSeen.UnixNano()
	}
	e.versions = slices.Clone(p.Versions)
	copy(e.clients.regs[:], p.Clients)
	e.clients.nfew = uint8(copy(e.clients.few[:], p.ClientsExact))
	if p.ClientsMany {
		e.clients.nfew = manyClients
	}
	for _, b := range p.Sizes {
		e.sizes.add(b[0], uint64(b[1]))
	}
}

// Merge adds other's endpoints and counts to inv, as if inv had observed
// other's traffic too (client counts are the union of both sketches, so
// a client seen by both counts once). New endpoints beyond MaxEndpoints
// evict as Observe does. other is not changed; merging an inventory into
// itself does nothing.
func (inv *Inventory) Merge(other *Inventory) {
	if other == inv {
		return
	}
	for _, o := range other.list {
		e := inv.byKey[o.key]
		if e == nil {
			e = inv.insert(o.key)
		}
		e.merge(o)
	}
	inv.evicted += other.evicted
	inv.skipped += other.skipped
}

// merge adds o's counts to e.
func (e *endpoint) merge(o *endpoint) {
	e.requests += o.requests
	for i, n := range o.status {
		e.status[i] += n
	}
	e.anon, e.anonDenied = e.anon+o.anon, e.anonDenied+o.anonDenied
	e.cred, e.credDenied = e.cred+o.cred, e.credDenied+o.credDenied
	if o.first != 0 {
		e.seen(o.first, o.last)
	}
	for _, v := range o.versions {
		if !slices.Contains(e.versions, v) && len(e.versions) < MaxVersions {
			e.versions = append(e.versions, v)
		}
	}
	e.clients.merge(&o.clients)
	e.sizes.merge(&o.sizes)
}
