package detect

import "github.com/gatewatch/gatewatch/ingest"

// Request ids.
//
// A finding names a few requests an engineer can look up in the gateway's
// own logs and traces: the request ids (X-Request-Id, a trace id, ALB's
// trace header) of events that made it: a scan's 404s, the matched
// probes, failed logins, 5xx answers, the largest responses, steps of a
// walk. Keeping them per client would cost hundreds of bytes for every
// client, and almost none ever has a finding, so they live in one table
// of fixed size (requestIDEntries entries for each of the two newest
// windows), shared by client slot: an entry belongs to the client that
// recorded in it last, and a finding shows the ids only if its client's
// entry still holds its window. A client producing many such events, the
// kind that has findings, reclaims its entry with each of them.
// Events without a request id (nginx's combined format has none) record
// nothing and cost nothing. Ids are kept as printable ASCII, truncated at
// sampleLen; they are identifiers, not credentials. The table is not part
// of snapshots: after a restore, findings about the windows that were
// open at the checkpoint may name fewer ids.

// Request id table constants.
const (
	requestIDEntries = 1 << 12 // per window parity: 8192 entries, about 1.8 MB per engine
	requestIDsKept   = 4       // ids an entry holds
	requestIDsOfKind = 2       // ids of one kind an entry holds
)

// idKind is what made a request worth naming.
type idKind uint8

const (
	idNone  idKind = iota
	idMiss         // 404/403 on a path (scanning)
	idProbe        // a matched injection probe
	idAuth         // an auth failure
	idErr          // a 5xx
	idBig          // the window's largest response so far
	idWalk         // a step under a route with ids (sampled like the route)
)

var idKindText = [...]string{idMiss: "404/403", idProbe: "probe", idAuth: "auth failure", idErr: "5xx", idBig: "large response", idWalk: "object read"}

// kindFor is the kind of request whose id detector d's finding shows;
// idNone shows any.
var kindFor = [numDetectors]idKind{detScan: idMiss, detProbe: idProbe, detAuth: idAuth, detErrors: idErr, detExfil: idBig, detEnum: idWalk}

// requestIDEntry holds the ids one client recorded in one window.
type requestIDEntry struct {
	ref   clientRef
	w     int64
	n     uint8
	kinds [requestIDsKept]idKind
	ids   [requestIDsKept]sample
}

// requestIDs is the engine's table; its zero value is empty and
// allocates on first use.
type requestIDs struct {
	entries []requestIDEntry
}

// kindOf returns the kind of an event counted with h, if it is worth
// naming.
func (e *Engine) kindOf(h *hit, biggest bool) idKind {
	switch {
	case h.probe:
		return idProbe
	case h.miss:
		return idMiss
	case h.auth:
		return idAuth
	case h.err:
		return idErr
	case biggest && e.on.exfil:
		return idBig
	case h.idReq && h.pathHash%idSampling == 0:
		return idWalk
	}
	return idNone
}

// entry returns the entry of client ref in window w, or nil.
func (t *requestIDs) entry(ref clientRef, w int64) *requestIDEntry {
	if len(t.entries) == 0 {
		return nil
	}
	x := &t.entries[requestIDSlot(ref.idx, w)]
	if x.ref != ref || x.w != w {
		return nil
	}
	return x
}

func requestIDSlot(idx int32, w int64) int {
	return int(uint32(idx)*2654435761>>20)&(requestIDEntries-1)<<1 | int(w&1)
}

// record keeps id, of kind k, for client ref in window w.
func (t *requestIDs) record(ref clientRef, w int64, k idKind, id string) {
	if t.entries == nil {
		t.entries = make([]requestIDEntry, 2*requestIDEntries)
	}
	x := &t.entries[requestIDSlot(ref.idx, w)]
	if x.ref != ref || x.w != w {
		if x.w > w && x.n > 0 {
			return // a newer window's ids are held: a late event does not evict them
		}
		*x = requestIDEntry{ref: ref, w: w}
	}
	if x.n == requestIDsKept {
		return
	}
	same := 0
	for i := range x.n {
		if x.kinds[i] == k {
			if same++; same == requestIDsOfKind || x.ids[i].equal(id) {
				return
			}
		}
	}
	x.kinds[x.n] = k
	x.ids[x.n].reset()
	x.ids[x.n].writeSafe(id)
	x.n++
}

// recordID records ev's request id when its kind is worth naming.
func (e *Engine) recordID(ev *ingest.Event, ref clientRef, w int64, h *hit, biggest bool) {
	if k := e.kindOf(h, biggest); k != idNone {
		e.reqIDs.record(ref, w, k, ev.RequestID)
	}
}

// requestIDSamples appends to samples the ids client ref recorded in
// window w that explain a finding of detector d.
func (e *Engine) requestIDSamples(samples []string, ref clientRef, w int64, d detector) []string {
	x := e.reqIDs.entry(ref, w)
	if x == nil {
		return samples
	}
	want := kindFor[d]
	for i := range x.n {
		if want == idNone || x.kinds[i] == want {
			samples = append(samples, "request id "+x.ids[i].String()+" ("+idKindText[x.kinds[i]]+")")
		}
	}
	return samples
}
