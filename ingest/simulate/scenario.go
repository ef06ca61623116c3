package simulate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Kind labels what a simulated client does.
type Kind string

// Kinds of simulated behaviour. Attacks are expected to be found by the
// detectors named in their Label; traps are legitimate traffic shaped to
// tempt a naive detector and must not raise a finding.
const (
	Normal             Kind = "normal"
	QuietSpike         Kind = "quiet_spike"         // a client at ~2 req/min jumps to ~40-60 req/min: well below any static threshold
	CredentialStuffing Kind = "credential_stuffing" // a new client (new IP, no history) sends ~100-400 POST /login (or /oauth/token) per minute, >90% 401
	AuthFailureJump    Kind = "auth_failure_jump"   // an existing client (own history, ~1% auth failures) jumps to 30-60% 401/403
	ErrorRatioJump     Kind = "error_ratio_jump"    // an existing client's 5xx ratio goes from ~0.5% to 30-50% at its normal volume
	Flood              Kind = "flood"               // an existing client goes from ~100 req/min to 50x-100x
	TrapSteadyHeavy    Kind = "trap_steady_heavy"   // 2000-5000 req/min, overdispersed but steady: must NOT alert
	TrapOrganicGrowth  Kind = "trap_organic_growth" // volume grows smoothly ~3-4x over the run: must NOT alert
	TrapTokenRefresh   Kind = "trap_token_refresh"  // fleet-wide: at one minute, most clients get a few 401s (token expiry) then succeed: must NOT alert
)

// AttackKinds lists the kinds a detector is expected to find, in a stable
// order.
func AttackKinds() []Kind {
	return []Kind{QuietSpike, CredentialStuffing, AuthFailureJump, ErrorRatioJump, Flood}
}

// TrapKinds lists the kinds that must not raise a finding.
func TrapKinds() []Kind { return []Kind{TrapSteadyHeavy, TrapOrganicGrowth, TrapTokenRefresh} }

// IsTrap reports whether k is legitimate traffic that must not alert.
func (k Kind) IsTrap() bool {
	switch k {
	case TrapSteadyHeavy, TrapOrganicGrowth, TrapTokenRefresh, TrapNormal404, TrapBatchJob, TrapRoamingKey:
		return true
	}
	return false
}

// Detector names used in Label.Detectors.
const (
	DetectorVolume       = "volume"
	DetectorErrorRatio   = "error_ratio"
	DetectorAuthFailures = "auth_failures"
)

// expectedDetectors says which detectors must fire for each attack; a
// function rather than a map so no caller can mutate shared state.
func expectedDetectors(k Kind) []string {
	switch k {
	case QuietSpike, Flood:
		return []string{DetectorVolume}
	case CredentialStuffing, AuthFailureJump:
		return []string{DetectorAuthFailures}
	case ErrorRatioJump:
		return []string{DetectorErrorRatio}
	}
	return extendedDetectors(k)
}

// Label says which client does what, and when (attacks); normal clients
// have no label.
type Label struct {
	// Client is the client key exactly as ingest.Normalizer derives it: the
	// IP address text, or "key:<id>" for a client presenting an API key
	// (CredentialSharing, TrapRoamingKey). It is empty for the fleet-wide
	// TrapTokenRefresh, and FleetClient for the fleet-wide attacks.
	Client string
	// Members are the client keys taking part in a fleet-wide attack.
	Members []string
	Kind    Kind
	// Start and End bound the attack, End exclusive. For TrapSteadyHeavy and
	// TrapOrganicGrowth they span the whole run; for TrapTokenRefresh they
	// span the burst minute.
	Start time.Time
	End   time.Time
	// Detectors are the detector names expected to fire: "volume",
	// "error_ratio", "auth_failures". Empty for traps.
	Detectors []string
}

// Config describes a scenario. The zero value is the default scenario:
// seed 0, three hours from 2026-11-02T00:00:00Z, 2000 normal clients, every
// attack and trap once, attacks from 2h to 2h10m.
type Config struct {
	Seed     uint64
	Start    time.Time     // default 2026-11-02T00:00:00Z; truncated to the second, in UTC
	Duration time.Duration // default 3h; whole minutes are simulated
	Clients  int           // normal clients, default 2000
	// AttackAt is the offset when attacks start, rounded down to a minute.
	// Default: two thirds into the run (2h of the default 3h), so baselines
	// warm up first.
	AttackAt time.Duration
	// AttackFor is how long attacks last, rounded down to whole minutes, at
	// least one. Default 10m, shortened to fit a short run.
	AttackFor time.Duration
	// Attacks lists the attacks and traps to inject, one client each (a
	// kind may repeat, except TrapTokenRefresh). Nil means every attack
	// kind and every trap once; an empty non-nil slice means none.
	Attacks []Kind
	// TokenRefreshAt is the offset of the TrapTokenRefresh minute. Zero
	// means halfway between the attack window's end and the run's end (or
	// halfway to the attack window when no time is left after it).
	TokenRefreshAt time.Duration
}

// Scenario is a fully specified simulation: the fleet, the injected
// clients and their labels. It is immutable once built, so Run and
// WriteNginx may be called any number of times, also concurrently, and
// always produce the same traffic.
type Scenario struct {
	start       time.Time
	minutes     int
	attackStart int // first attack minute
	attackEnd   int // first minute after the attack
	refreshMin  int // token-refresh burst minute, -1 without that trap
	clients     []client
	normal      int // clients[:normal] are the unlabelled fleet
	labels      []Label
	trafficSeed [2]uint64
	kindIndex   []Kind // kinds by client.kindIdx, for Stats

	mu    sync.Mutex
	stats Stats
}

// Stats summarise the traffic of the most recent complete Run or
// WriteNginx.
type Stats struct {
	Events  int64
	Minutes int
	Clients int // distinct simulated clients, normal and labelled
	// Status counts events by status class: Status[2] is 2xx, ... Status[5] is 5xx.
	Status       [6]int64
	AuthFailures int64          // 401 and 403 responses
	ByKind       map[Kind]int64 // events by the kind of client that sent them
}

// Default configuration values.
const (
	DefaultDuration  = 3 * time.Hour
	DefaultClients   = 2000
	DefaultAttackFor = 10 * time.Minute
)

// DefaultStart is the start of the default scenario.
func DefaultStart() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }

// maxClients bounds a scenario so a typo cannot ask for a terabyte of
// traffic.
const maxClients = 1_000_000

// New builds the scenario cfg describes.
func New(cfg Config) (*Scenario, error) {
	cfg.setDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s, err := newScenario(&cfg)
	if err != nil {
		return nil, err
	}
	// Profiles come from their own stream, so the fleet is the same whatever
	// the traffic stream consumes.
	b := newFleetBuilder(rand.NewPCG(cfg.Seed, 0x0c11e475), s)
	for range cfg.Clients {
		s.clients = append(s.clients, b.normalClient())
	}
	s.normal = len(s.clients)
	fleetAttacks, err := s.addInjected(b, cfg.Attacks)
	if err != nil {
		return nil, err
	}
	// Fleet-wide attacks are sized against everything else's traffic.
	fleetRate := s.fleetRate()
	for _, i := range fleetAttacks {
		cs, err := b.extendedClients(s.labels[i].Kind, s.normal, fleetRate)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			s.labels[i].Members = append(s.labels[i].Members, c.addr)
		}
		s.clients = append(s.clients, cs...)
	}
	s.kindIndex = b.kinds
	return s, nil
}

// setDefaults fills in the zero fields of cfg (see Config).
func (cfg *Config) setDefaults() {
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart()
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Clients == 0 {
		cfg.Clients = DefaultClients
	}
	if cfg.AttackAt == 0 {
		cfg.AttackAt = cfg.Duration * 2 / 3
	}
	if cfg.AttackFor == 0 {
		cfg.AttackFor = min(DefaultAttackFor, max(time.Minute, cfg.Duration-cfg.AttackAt))
	}
	if cfg.Attacks == nil {
		cfg.Attacks = append(AttackKinds(), TrapKinds()...)
	}
}

// check reports a cfg (with defaults set) whose times or sizes are out of
// range.
func (cfg *Config) check() error {
	switch {
	case cfg.Start.UTC().Year() < 1000 || cfg.Start.UTC().Add(cfg.Duration).Year() > 9999:
		// Access logs print four-digit years.
		return fmt.Errorf("simulate: start %v is outside years 1000..9999", cfg.Start)
	case cfg.Duration < time.Minute:
		return fmt.Errorf("simulate: duration %v is shorter than a minute", cfg.Duration)
	case cfg.Duration > 31*24*time.Hour:
		return fmt.Errorf("simulate: duration %v is longer than 31 days", cfg.Duration)
	case cfg.Clients < 0 || cfg.Clients > maxClients:
		return fmt.Errorf("simulate: %d clients is outside 0..%d", cfg.Clients, maxClients)
	case cfg.AttackAt < 0:
		return fmt.Errorf("simulate: negative attack offset %v", cfg.AttackAt)
	case cfg.AttackFor < 0:
		return fmt.Errorf("simulate: negative attack duration %v", cfg.AttackFor)
	case cfg.TokenRefreshAt < 0:
		return fmt.Errorf("simulate: negative token refresh offset %v", cfg.TokenRefreshAt)
	}
	return nil
}

// newScenario returns a scenario with the run's minutes, the attack window
// and the token-refresh minute of cfg (checked, with defaults set) but no
// clients yet. It fails on an unknown attack kind or a window that does
// not fit.
func newScenario(cfg *Config) (*Scenario, error) {
	s := &Scenario{
		start:       cfg.Start.UTC().Truncate(time.Second),
		minutes:     int(cfg.Duration / time.Minute),
		attackStart: int(cfg.AttackAt / time.Minute),
		refreshMin:  -1,
		trafficSeed: [2]uint64{cfg.Seed, 0x5eed_7aff1c},
	}
	s.attackEnd = s.attackStart + max(1, int(cfg.AttackFor/time.Minute))
	attacks := slices.ContainsFunc(cfg.Attacks, func(k Kind) bool { return !k.IsTrap() })
	switch {
	case s.attackEnd <= s.minutes:
	case attacks:
		return nil, fmt.Errorf("simulate: attack window %v+%v does not fit in the %v run",
			cfg.AttackAt, cfg.AttackFor, cfg.Duration)
	default:
		// Nothing attacks: the window only places the token refresh.
		s.attackStart, s.attackEnd = s.minutes, s.minutes
	}
	for i, k := range cfg.Attacks {
		if k == Normal || (!k.IsTrap() && expectedDetectors(k) == nil) {
			return nil, fmt.Errorf("simulate: attacks[%d]: unknown kind %q", i, k)
		}
		if k == TrapTokenRefresh {
			if s.refreshMin >= 0 {
				return nil, fmt.Errorf("simulate: attacks[%d]: %s is fleet-wide and may appear once", i, k)
			}
			s.refreshMin = s.tokenRefreshMinute(cfg.TokenRefreshAt)
			if s.refreshMin >= s.minutes {
				return nil, fmt.Errorf("simulate: token refresh at %v is outside the %v run", cfg.TokenRefreshAt, cfg.Duration)
			}
		}
	}
	return s, nil
}

// addInjected adds the clients and labels of attacks, in order. It returns
// the indexes of the fleet-wide attacks' labels: their members are added
// once the rest of the traffic is known.
func (s *Scenario) addInjected(b *fleetBuilder, attacks []Kind) ([]int, error) {
	var fleetAttacks []int
	for _, k := range attacks {
		switch {
		case isFleetAttack(k):
			fleetAttacks = append(fleetAttacks, len(s.labels))
			s.labels = append(s.labels, Label{Client: FleetClient, Kind: k, Detectors: expectedDetectors(k),
				Start: s.minuteTime(s.attackStart), End: s.minuteTime(s.attackEnd)})
		case extendedDetectors(k) != nil || k == TrapNormal404 || k == TrapBatchJob || k == TrapRoamingKey:
			if err := s.addExtended(b, k); err != nil {
				return nil, err
			}
		case k == TrapTokenRefresh:
			start := s.minuteTime(s.refreshMin)
			s.labels = append(s.labels, Label{Kind: k, Start: start, End: start.Add(time.Minute)})
		default:
			if err := s.addLabelled(b, k); err != nil {
				return nil, err
			}
		}
	}
	return fleetAttacks, nil
}

// addExtended adds the client of an extended kind that is not fleet-wide,
// and its label.
func (s *Scenario) addExtended(b *fleetBuilder, k Kind) error {
	cs, err := b.extendedClients(k, s.normal, 0)
	if err != nil {
		return err
	}
	l := Label{Client: cs[0].addr, Kind: k, Detectors: expectedDetectors(k),
		Start: s.minuteTime(s.attackStart), End: s.minuteTime(s.attackEnd)}
	if cs[0].apiKeyID != "" {
		l.Client = "key:" + cs[0].apiKeyID
	}
	if k.IsTrap() {
		l.Start, l.End = s.minuteTime(0), s.minuteTime(s.minutes)
	}
	s.clients = append(s.clients, cs...)
	s.labels = append(s.labels, l)
	return nil
}

// addLabelled adds the client of one of the original attacks or traps, and
// its label.
func (s *Scenario) addLabelled(b *fleetBuilder, k Kind) error {
	c, err := b.labelledClient(k)
	if err != nil {
		return err
	}
	l := Label{Client: c.addr, Kind: k, Detectors: expectedDetectors(k)}
	if k.IsTrap() {
		l.Start, l.End = s.minuteTime(0), s.minuteTime(s.minutes)
	} else {
		l.Start, l.End = s.minuteTime(s.attackStart), s.minuteTime(s.attackEnd)
	}
	s.clients = append(s.clients, c)
	s.labels = append(s.labels, l)
	return nil
}

// fleetRate is the expected requests per minute of the clients so far,
// leaving out monitors and the attackers that come from nowhere.
func (s *Scenario) fleetRate() float64 {
	var rate float64
	for i := range s.clients {
		c := &s.clients[i]
		switch {
		case c.monitor > 0 || c.kind == CredentialStuffing || c.kind == Scanning || c.kind == InjectionProbe:
		case c.intermittent:
			rate += c.rate * c.pActive
		case c.kind == TrapBatchJob:
			rate += c.rate * 6 / 40
		default:
			rate += c.rate
		}
	}
	return rate
}

func (s *Scenario) tokenRefreshMinute(at time.Duration) int {
	if at > 0 {
		return int(at / time.Minute)
	}
	if s.attackEnd < s.minutes {
		return s.attackEnd + (s.minutes-s.attackEnd)/2
	}
	return s.attackStart / 2
}

func (s *Scenario) minuteTime(m int) time.Time { return s.start.Add(time.Duration(m) * time.Minute) }

// Labels returns the ground truth: one label per injected client, in the
// order of Config.Attacks. The caller may modify the returned slice.
func (s *Scenario) Labels() []Label {
	out := make([]Label, len(s.labels))
	for i, l := range s.labels {
		l.Detectors = append([]string(nil), l.Detectors...)
		l.Members = append([]string(nil), l.Members...)
		out[i] = l
	}
	return out
}

// Start returns the time of the first simulated minute.
func (s *Scenario) Start() time.Time { return s.start }

// End returns the end of the last simulated minute (exclusive).
func (s *Scenario) End() time.Time { return s.minuteTime(s.minutes) }

// Stats returns the totals of the most recent Run or WriteNginx that went
// to completion; the zero Stats before any.
func (s *Scenario) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	if st.ByKind != nil {
		st.ByKind = make(map[Kind]int64, len(s.stats.ByKind))
		for k, v := range s.stats.ByKind {
			st.ByKind[k] = v
		}
	}
	return st
}
