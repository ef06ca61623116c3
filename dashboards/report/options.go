package report

import "time"

// Option defaults.
const (
	DefaultTitle           = "gatewatch report"
	DefaultMaxClients      = 100_000
	DefaultMaxIncidents    = 500
	DefaultMaxListed       = 10_000
	DefaultTopN            = 20
	DefaultWindow          = time.Minute
	DefaultContext         = 30
	DefaultMaxSeriesPoints = 512
	DefaultMaxBuckets      = 4096
	// DefaultChartPoints bounds the points of an overview chart.
	DefaultChartPoints = 2000
	// DefaultIncidentPoints bounds the points of an incident's chart.
	DefaultIncidentPoints = 240
)

// Options configure a Collector; the zero Options work.
type Options struct {
	// Title heads the page (default DefaultTitle).
	Title string
	// MaxClients bounds the clients whose recent windows are kept for
	// incident series (default 100,000). Clients with an incident are
	// kept beyond it.
	MaxClients int
	// MaxIncidents bounds the incidents with a full series or activity
	// timeline (default 500); when full, a more severe incident takes the
	// slot of the least severe one.
	MaxIncidents int
	// MaxListed bounds the incidents listed at all (default 10,000);
	// beyond it the least severe are dropped and only counted.
	MaxListed int
	// TopN is how many clients and routes the page ranks (default 20).
	TopN int
	// TopCapacity is how many Space-Saving counters rank clients and
	// routes each (default 50×TopN, at least 1,000): a count is over by
	// at most events/TopCapacity, shown as its error.
	TopCapacity int
	// Window is the overview's bucket and the detectors' window (default
	// one minute); WindowStats' own length takes precedence for series.
	Window time.Duration
	// Context is how many windows before and after an incident its
	// series shows (default 30).
	Context int
	// MaxSeriesPoints bounds one pinned client series (default 512): a
	// longer one is coarsened, pairs of points averaged.
	MaxSeriesPoints int
	// MaxBuckets bounds the overview's buckets (default 4,096): a longer
	// input doubles the bucket length as often as needed.
	MaxBuckets int
}

// withDefaults fills in the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Title == "" {
		o.Title = DefaultTitle
	}
	o.MaxClients = orDefault(o.MaxClients, DefaultMaxClients)
	o.MaxIncidents = orDefault(o.MaxIncidents, DefaultMaxIncidents)
	o.MaxListed = max(orDefault(o.MaxListed, DefaultMaxListed), o.MaxIncidents)
	o.TopN = orDefault(o.TopN, DefaultTopN)
	o.TopCapacity = orDefault(o.TopCapacity, max(50*o.TopN, 1000))
	o.TopCapacity = max(o.TopCapacity, o.TopN)
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	o.Context = orDefault(o.Context, DefaultContext)
	o.MaxSeriesPoints = max(orDefault(o.MaxSeriesPoints, DefaultMaxSeriesPoints), 4)
	o.MaxBuckets = max(orDefault(o.MaxBuckets, DefaultMaxBuckets), 16)
	return o
}

// orDefault is v, or def when v is not positive.
func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// RenderOptions configure Render and Handler; the zero RenderOptions
// make a static page.
type RenderOptions struct {
	// Refresh, when positive, makes a live page: it refetches itself this
	// often (keeping its filters, sort and expanded rows), or reloads
	// without the script. Zero makes a static page.
	Refresh time.Duration
	// Generated is when the page was made, shown in its footer; zero
	// omits it (Handler uses the time of each request).
	Generated time.Time
	// ChartPoints bounds the points of an overview chart (default 2,000):
	// buckets are summed to fit.
	ChartPoints int
	// IncidentPoints bounds the points of an incident's chart (default
	// 240): windows are averaged to fit.
	IncidentPoints int
}

func (o RenderOptions) withDefaults() RenderOptions {
	o.ChartPoints = max(orDefault(o.ChartPoints, DefaultChartPoints), 2)
	o.IncidentPoints = max(orDefault(o.IncidentPoints, DefaultIncidentPoints), 2)
	return o
}
