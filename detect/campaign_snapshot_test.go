package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/ingest"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

// logReplay is what running a real log through an engine produced.
type logReplay struct {
	findings []string // every emission, JSON-encoded, in order
	stats    Stats
	events   int
	cuts     int // snapshots restored
	campCuts int // of which with a campaign incident open
}

// replayLog runs the log at path through parsing, normalisation and an
// engine with opts, as analyseLog does. With every > 0 the engine is
// snapshotted and replaced by one restored from the snapshot after every
// every events (also in the middle of a parsed batch) and before Flush;
// roundTrip requires each restored engine to re-encode to the snapshot's
// bytes.
func replayLog(t *testing.T, path string, opts Options, every int) logReplay {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out logReplay
	opts.Emit = func(f Finding) {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		out.findings = append(out.findings, string(b))
	}
	e := New(opts)
	cut := func() {
		if campaignOpen(e) {
			out.campCuts++
		}
		e = roundTrip(t, opts, e)
		out.cuts++
	}
	_, err = ingest.ParseStream(context.Background(), r, ingest.StreamOptions{
		Normalizer: ingest.NormalizerOptions{HMACKey: []byte("reallogs-test-key")},
	}, func(b *ingest.Batch) error {
		evs := b.Events
		for len(evs) > 0 {
			n := len(evs)
			if every > 0 {
				n = min(n, every-out.events%every)
			}
			e.ObserveBatch(evs[:n])
			out.events += n
			evs = evs[n:]
			if every > 0 && out.events%every == 0 {
				cut()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if every > 0 {
		cut()
	}
	e.Flush()
	out.stats = e.Stats()
	return out
}

// campaignOpen reports whether e has a campaign incident open.
func campaignOpen(e *Engine) bool {
	for i := range e.camps {
		if e.camps[i].inc != 0 {
			return true
		}
	}
	return false
}

// TestRestoreMidCampaign runs real logs with campaigns (a worm's and
// scanners' probes, distributed sign-up and login bots) through an engine
// restored from its own snapshot every few hundred events, and requires
// exactly the emissions of an uninterrupted run: campaign participants,
// counts, decayed login sums and open incidents all carry over.
func TestRestoreMidCampaign(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"secrepo-2018-12-15", "plone-hackers-2015"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(realLogsDir, name+".log")
			testenv.Stat(t, log, "../shared beside the repository")
			opts := Options{CampaignGap: -1}
			want := replayLog(t, log, opts, 0)
			camps := 0
			for _, f := range want.findings {
				if strings.Contains(f, `"detector":"campaign"`) {
					camps++
				}
			}
			if camps == 0 {
				t.Fatalf("the uninterrupted run emitted no campaign finding (%d findings): nothing to carry over", len(want.findings))
			}
			for _, every := range []int{500, 173} {
				t.Run(fmt.Sprint("every ", every), func(t *testing.T) {
					got := replayLog(t, log, opts, every)
					t.Logf("%d events, %d findings (%d campaign), %d restores, %d with a campaign open",
						got.events, len(want.findings), camps, got.cuts, got.campCuts)
					if got.campCuts == 0 {
						t.Errorf("no snapshot was taken with a campaign open")
					}
					if got.events != want.events || got.stats != want.stats {
						t.Errorf("%d events, stats %+v; uninterrupted %d, %+v", got.events, got.stats, want.events, want.stats)
					}
					sameFindings(t, got.findings, want.findings)
				})
			}
		})
	}
}

// TestSnapshotOpenCampaignBytes: a snapshot of an engine with a campaign
// open, restored, encodes to the same bytes, and the restored engine
// holds the same campaigns.
func TestSnapshotOpenCampaignBytes(t *testing.T) {
	t.Parallel()
	site := newSmallSite(1)
	opts := Options{}
	var ev ingest.Event
	e := New(opts)
	checked := 0
	for i := range site.events {
		x := &site.events[i]
		ev.Reset()
		ev.Time, ev.Format, ev.ClientKey, ev.ClientKind = x.at, "nginx_combined", x.client, ingest.ClientIP
		ev.Method, ev.Path, ev.Route, ev.Status = x.method, x.path, x.route, x.status
		if x.status == 401 {
			ev.Auth = ingest.AuthFailed
		}
		e.Observe(&ev)
		if i%97 != 0 || !campaignOpen(e) {
			continue
		}
		r := roundTrip(t, opts, e) // fails unless the bytes are identical
		if len(r.camps) != len(e.camps) {
			t.Fatalf("restored %d campaigns, had %d", len(r.camps), len(e.camps))
		}
		for j := range e.camps {
			a, b := &e.camps[j], &r.camps[j]
			if a.key != b.key || (a.inc == 0) != (b.inc == 0) || a.clients != b.clients || a.reqs != b.reqs ||
				a.fails != b.fails || a.failClients != b.failClients || len(a.seen) != len(b.seen) ||
				strings.Join(a.ranked(), ",") != strings.Join(b.ranked(), ",") {
				t.Fatalf("campaign %s restored as %+v, was %+v", a.key, *b, *a)
			}
			// Incidents are renumbered on restore: the campaign must
			// still point at its own.
			if a.inc != 0 && e.inc.list[a.inc-1].id != r.inc.list[b.inc-1].id {
				t.Fatalf("campaign %s points at incident %s after restore, %s before",
					a.key, r.inc.list[b.inc-1].id, e.inc.list[a.inc-1].id)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("the login campaign never opened: nothing checked")
	}
}
