package simulate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// TestExtendedKinds checks the extended attacks and traps: labels, and
// that each client's traffic has the shape its kind promises.
func TestExtendedKinds(t *testing.T) {
	t.Parallel()
	kinds := append(ExtendedAttackKinds(), ExtendedTrapKinds()...)
	s := mustNew(t, Config{Seed: 9, Clients: 200, Duration: 90 * time.Minute, AttackAt: time.Hour, AttackFor: 10 * time.Minute, Attacks: kinds})
	labels := s.Labels()
	if len(labels) != len(kinds) {
		t.Fatalf("%d labels, want %d", len(labels), len(kinds))
	}
	type tally struct{ events, s404, probes, big, ids, keyed int }
	byClient := map[string]*tally{}
	attackStart, attackEnd := s.Start().Add(time.Hour), s.Start().Add(70*time.Minute)
	members := map[string]Kind{}
	for _, l := range labels {
		if (l.Client == FleetClient) != isFleetAttack(l.Kind) || (isFleetAttack(l.Kind) && len(l.Members) < 50) {
			t.Errorf("%s: client %q, %d members", l.Kind, l.Client, len(l.Members))
		}
		for _, m := range l.Members {
			members[m] = l.Kind
		}
		byClient[l.Client] = &tally{}
	}
	var fleetAttackEvents, outside int
	err := s.Run(context.Background(), func(ev *ingest.Event) error {
		in := !ev.Time.Before(attackStart) && ev.Time.Before(attackEnd)
		if _, ok := members[ev.ClientKey]; ok {
			fleetAttackEvents++
			if !in {
				outside++
			}
		}
		tl := byClient[ev.ClientKey]
		if tl == nil || !in {
			return nil
		}
		tl.events++
		if ev.Status == 404 || ev.Status == 403 {
			tl.s404++
		}
		if strings.Contains(ev.Query, "%") || strings.Contains(ev.Query, "..") {
			tl.probes++
		}
		if ev.BytesOut >= 1<<20 {
			tl.big++
		}
		if ev.Route != ev.Path {
			tl.ids++
		}
		if ev.ClientKind == ingest.ClientAPIKey {
			tl.keyed++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fleetAttackEvents == 0 || outside != 0 {
		t.Errorf("fleet attack events: %d, %d outside the attack window", fleetAttackEvents, outside)
	}
	for _, l := range labels {
		tl := byClient[l.Client]
		var ok bool
		switch l.Kind {
		case Scanning:
			ok = tl.s404 > tl.events*8/10
		case InjectionProbe:
			ok = tl.probes > tl.events/2
		case Enumeration:
			ok = tl.ids > tl.events*9/10 && tl.events > 1000
		case Exfiltration:
			ok = tl.big > tl.events/4
		case CredentialSharing, TrapRoamingKey:
			ok = strings.HasPrefix(l.Client, "key:") && tl.keyed > tl.events*9/10
		case TrapNormal404:
			ok = tl.s404 > tl.events/2
		default:
			ok = true
		}
		if !ok {
			t.Errorf("%s %s: traffic in the attack window %+v", l.Kind, l.Client, *tl)
		}
	}
}
