package detect

import (
	"math"
	"time"

	"github.com/gatewatch/gatewatch/ingest"
)

// Default option values. They are tuned on the labelled scenarios of
// ingest/simulate (see quality_test.go) and documented on Options.
const (
	DefaultWindow          = time.Minute
	DefaultAllowedLateness = 30 * time.Second
	DefaultMinHistory      = 10
	DefaultHalfLife        = 30
	DefaultPValue          = 1e-6
	DefaultMinRequests     = 20
	DefaultMinErrors       = 5
	DefaultMinAuthFailures = 5
	DefaultMinRatio        = 3
	DefaultMinRatioDelta   = 0.02
	DefaultResolveAfter    = 10
	DefaultUpdateEvery     = 10
	DefaultIdleAfter       = 25 * time.Hour
	DefaultMaxClients      = 1_000_000

	DefaultScanFloor         = 20      // distinct paths answered 404/403 per window
	DefaultScanMinRatio      = 3       // times the client's own expectation
	DefaultEnumFloor         = 50      // distinct object paths under id routes per window
	DefaultEnumMinRatio      = 4       // times the client's own expectation
	DefaultProbeFloor        = 3       // injection probes per window
	DefaultExfilFloor        = 8 << 20 // response bytes per window
	DefaultExfilMinRatio     = 5       // times the client's own bytes per request
	DefaultShareFloor        = 5       // distinct /24 (IPv6 /48) networks per window
	DefaultShareMinRatio     = 3       // times the client's own expectation
	DefaultFleetMinRatio     = 2       // fleet volume over its expectation
	DefaultFleetFloor        = 1000    // fleet requests per window
	DefaultFleetAuthMinRatio = 3       // fleet auth failures over their expectation
	DefaultFleetAuthFloor    = 50      // auth failures of failure-dominated clients per window
	DefaultFDR               = 0.05    // Benjamini–Hochberg false-discovery rate per window
	DefaultBruteFloor        = 10      // login attempts (POSTs to a login route) per window
	DefaultBruteMinRatio     = 3       // times the client's own expectation
	DefaultProbeCampaign     = 2       // commodity probe requests before a campaign of one client is reported
	DefaultCampaignGap       = 7 * 24 * time.Hour
	DefaultRouteClients      = 10 // distinct clients behind an anomalous write-route window
	DefaultRouteMinRatio     = 5  // times the route's own expectation (plus three spreads)
)

// DetectorSwitch turns one detector off. The zero value leaves it on, so a
// zero Options runs every detector.
type DetectorSwitch struct {
	Disabled bool
}

// Tuning switches off and tunes one of the newer detectors. The zero
// value runs it with its defaults (the Default* constants beside the
// detector).
type Tuning struct {
	Disabled bool
	// Floor is the least a window must show to be a finding, in the
	// detector's unit: distinct 404/403 paths (scanning), distinct object
	// paths (enumeration), probe requests (injection), response bytes
	// (exfiltration), distinct networks (credential sharing), requests
	// (fleet volume), auth failures of failure-dominated clients (fleet
	// auth failures).
	Floor float64
	// MinRatio is the least observed/expected ratio that can be a
	// finding. Unused by injection, which has no baseline.
	MinRatio float64
}

func (t Tuning) withDefaults(floor, ratio float64) Tuning {
	if !(t.Floor > 0) || math.IsInf(t.Floor, 0) {
		t.Floor = floor
	}
	if !(t.MinRatio >= 1) || math.IsInf(t.MinRatio, 0) {
		t.MinRatio = ratio
	}
	return t
}

// TimeRange is a half-open span of time [Start, End).
type TimeRange struct {
	Start, End time.Time
}

// Options configure an Engine. The zero value is a sensible configuration:
// every zero field takes the default documented beside it.
type Options struct {
	// Window is the width of the event-time tumbling windows clients are
	// counted in (default 1m). Windows are aligned to the Unix epoch, so
	// one-minute windows start on the minute. At most 7 days.
	Window time.Duration

	// AllowedLateness is how far behind the newest event time an event may
	// be and still be counted (default 30s; negative means none; at most
	// 60 windows). A window
	// [s, s+Window) closes once an event (or AdvanceTo) newer than
	// s+Window+AllowedLateness has been seen; an event for a closed window
	// is late: counted in Stats.LateEvents and handed to OnLate.
	AllowedLateness time.Duration

	// MinHistory is how many active windows a client's own baseline needs
	// before it is trusted (default 10). Until then the client is judged
	// against the population of clients instead.
	MinHistory int

	// HalfLife is the half-life of the exponentially weighted baselines, in
	// active windows (default 30). Shorter follows organic growth more
	// closely, longer gives steadier variance estimates. The effective
	// number of windows behind a baseline is about 2.9*HalfLife. Error and
	// auth-failure ratios rest on rarer events and use four times it.
	HalfLife int

	// PValue is the significance threshold of each test (default 1e-6).
	// It is strict on purpose: with 100,000 clients, three detectors and
	// 1,440 windows a day an engine runs about 4e8 tests a day, and the
	// floors below, not this threshold alone, keep the alert stream quiet.
	PValue float64

	// MinRequests is the fewest requests in a window a volume finding
	// needs (default 20).
	MinRequests int
	// MinErrors is the fewest 5xx responses in a window an error_ratio
	// finding needs (default 5).
	MinErrors int
	// MinAuthFailures is the fewest 401/403 responses in a window an
	// auth_failures finding needs (default 5).
	MinAuthFailures int
	// MinRatio is the smallest observed/expected ratio that can be a
	// finding, whatever the p-value (default 3): heavy clients are
	// measured so precisely that a 20% wobble is "significant".
	MinRatio float64
	// MinRatioDelta is the smallest increase of the error or auth-failure
	// ratio over its expectation that can be a finding (default 0.02, two
	// percentage points).
	MinRatioDelta float64

	// ResolveAfter is how many windows without an anomaly close an
	// incident (default 10: an attack that pauses for a few minutes is
	// still one incident).
	ResolveAfter int
	// UpdateEvery bounds how long an open incident stays silent: an update
	// is emitted when an anomalous window is worse than any before it, or
	// when UpdateEvery anomalous windows passed since the last emission
	// (default 10).
	UpdateEvery int

	// IdleAfter evicts a client whose newest event is this much older, in
	// event time, than the watermark (default 25h, so daily clients keep
	// their baseline).
	IdleAfter time.Duration
	// MaxClients caps the clients held (default 1,000,000); beyond it the
	// least recently seen clients are evicted.
	MaxClients int

	// Volume, ErrorRatio and AuthFailures switch the detectors off.
	Volume, ErrorRatio, AuthFailures DetectorSwitch

	// Scanning finds a client getting 404/403 on many distinct paths.
	Scanning Tuning
	// Enumeration finds a client walking many distinct object ids under
	// routes with ids (/orders/{id}).
	Enumeration Tuning
	// Injection finds SQL injection, XSS, path traversal and command
	// injection probes in query values and path segments. Not relative to
	// a baseline: Floor probes in a window are a finding.
	Injection Tuning
	// Exfiltration finds response bytes per request far above the
	// client's own, at whatever request rate.
	Exfiltration Tuning
	// CredentialSharing finds a client key (not an IP-keyed client) used
	// from many more networks than usual.
	CredentialSharing Tuning
	// BruteForce finds a client making many login attempts (POSTs to a
	// login route: see LoginRoutes) in a window. Floor is in attempts.
	BruteForce Tuning
	// Probes finds commodity probes (requests for cmd.exe, /.env, .git,
	// wp-login.php where not served, phpMyAdmin, backups, ...). A client
	// probing two or more kinds in a window is a scanning finding of its
	// own; a client probing one kind joins that kind's campaign, one
	// incident for all the clients sending it, reported once it has two
	// clients or Floor requests (default 3).
	Probes Tuning
	// Routes judges each POST or PUT route against its own past across all
	// its clients: requests from clients new to the site, and the shares
	// answered 4xx/5xx and with a redirect (sign-up spam, SMS pumping,
	// card testing from many addresses). Floor is the distinct clients an
	// anomalous window needs (default 10); MinRatio how far above the
	// route's expectation it must be (default 5). See routesurge.go.
	Routes Tuning
	// LoginRoutes lists route templates that are login routes besides
	// those recognised by name (login, signin, logon, token, oauth, auth,
	// session, wp-login.php, xmlrpc.php, j_security_check).
	LoginRoutes []string
	// CampaignGap is how long a campaign (the same probe from many
	// clients, or failed logins on one route from many clients) may go
	// quiet and still be the same incident (default 7 days). Negative:
	// campaigns last until the end of input (Flush), as `gatewatch
	// analyze` reports them.
	CampaignGap time.Duration

	// FleetVolume and FleetAuth judge the whole fleet: total requests,
	// and auth failures beyond every client's expectation and the fleet's
	// common mode (distributed brute force). Their findings have client
	// FleetClient.
	FleetVolume, FleetAuth Tuning

	// FDR is the false-discovery rate each window's findings are
	// controlled at, across all clients and detectors, by the
	// Benjamini–Hochberg procedure (default 0.05; negative turns it off).
	FDR float64

	// OnWindow, when set, receives every client's tallies as each window
	// closes (after the detectors judged it), for storage. It runs on the
	// Engine's goroutine and must not call back into the Engine.
	OnWindow func(WindowStats)

	// AllowClients lists clients that never get a finding: client keys,
	// or CIDR prefixes ("10.0.0.0/8") matching IP-keyed clients. They are
	// still tracked, so leaving the list restores their baselines.
	AllowClients []string
	// AllowRoutes lists route templates ("/api/v1/search") whose requests
	// do not count towards scanning, enumeration and injection findings;
	// a trailing "*" matches a prefix ("/static/*").
	AllowRoutes []string
	// Maintenance lists spans of event time in which no finding is
	// raised. Windows overlapping one are still absorbed into baselines,
	// clipped as any other window.
	Maintenance []TimeRange

	// FalsePositives, when set, names the client/detector pairs people
	// marked as false positives. Such a pair's anomalous windows are not
	// reported, and its baselines absorb them as ordinary windows rather
	// than as anomalies, so the client's baseline learns what people said
	// is normal for it (Stats.Forgiven counts them).
	FalsePositives FalsePositives

	// Emit is called synchronously, from the goroutine calling Observe,
	// AdvanceTo or Flush, for every opened, updated and resolved finding.
	Emit func(Finding)
	// OnLate, when set, is called with every event the engine could not
	// count: late ones (Stats.LateEvents) and ones without a usable time
	// (Stats.Untimed). ev is valid only during the call.
	OnLate func(ev *ingest.Event)
}

// maxLatenessWindows caps AllowedLateness, in windows: every window that
// may still receive events costs 32 bytes per client (winCount).
const maxLatenessWindows = 60

// maxWindow caps Window, keeping the window arithmetic far from overflow.
const maxWindow = 7 * 24 * time.Hour

// withDefaults returns o with every unset or invalid field replaced by its
// default.
func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Window > maxWindow {
		o.Window = maxWindow
	}
	switch {
	case o.AllowedLateness == 0:
		o.AllowedLateness = DefaultAllowedLateness
	case o.AllowedLateness < 0:
		o.AllowedLateness = 0
	}
	if o.AllowedLateness > maxLatenessWindows*o.Window {
		o.AllowedLateness = maxLatenessWindows * o.Window
	}
	if o.MinHistory <= 0 {
		o.MinHistory = DefaultMinHistory
	}
	if o.HalfLife <= 0 {
		o.HalfLife = DefaultHalfLife
	}
	if !(o.PValue > 0 && o.PValue < 1) {
		o.PValue = DefaultPValue
	}
	if o.MinRequests <= 0 {
		o.MinRequests = DefaultMinRequests
	}
	if o.MinErrors <= 0 {
		o.MinErrors = DefaultMinErrors
	}
	if o.MinAuthFailures <= 0 {
		o.MinAuthFailures = DefaultMinAuthFailures
	}
	if !(o.MinRatio >= 1) || math.IsInf(o.MinRatio, 0) {
		o.MinRatio = DefaultMinRatio
	}
	if !(o.MinRatioDelta > 0 && o.MinRatioDelta < 1) {
		o.MinRatioDelta = DefaultMinRatioDelta
	}
	if o.ResolveAfter <= 0 {
		o.ResolveAfter = DefaultResolveAfter
	}
	if o.UpdateEvery <= 0 {
		o.UpdateEvery = DefaultUpdateEvery
	}
	if o.IdleAfter <= 0 {
		o.IdleAfter = DefaultIdleAfter
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	o.Scanning = o.Scanning.withDefaults(DefaultScanFloor, DefaultScanMinRatio)
	o.Enumeration = o.Enumeration.withDefaults(DefaultEnumFloor, DefaultEnumMinRatio)
	o.Injection = o.Injection.withDefaults(DefaultProbeFloor, 1)
	o.Exfiltration = o.Exfiltration.withDefaults(DefaultExfilFloor, DefaultExfilMinRatio)
	o.CredentialSharing = o.CredentialSharing.withDefaults(DefaultShareFloor, DefaultShareMinRatio)
	o.BruteForce = o.BruteForce.withDefaults(DefaultBruteFloor, DefaultBruteMinRatio)
	o.Probes = o.Probes.withDefaults(DefaultProbeCampaign, 1)
	o.Routes = o.Routes.withDefaults(DefaultRouteClients, DefaultRouteMinRatio)
	if o.CampaignGap == 0 {
		o.CampaignGap = DefaultCampaignGap
	}
	o.FleetVolume = o.FleetVolume.withDefaults(DefaultFleetFloor, DefaultFleetMinRatio)
	o.FleetAuth = o.FleetAuth.withDefaults(DefaultFleetAuthFloor, DefaultFleetAuthMinRatio)
	switch {
	case o.FDR == 0 || math.IsNaN(o.FDR):
		o.FDR = DefaultFDR
	case o.FDR >= 1:
		o.FDR = 1
	}
	return o
}

// alpha is the EWMA weight of a new window for a half-life of h windows.
func alpha(h int) float64 { return 1 - math.Exp2(-1/float64(h)) }
