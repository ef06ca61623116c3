package series

import (
	"math"
	"time"
)

// Kind says what a series' values are, which decides the noise model.
type Kind uint8

const (
	// Continuous values (latencies, temperatures, CPU): Student-t
	// predictive tails on the values themselves.
	Continuous Kind = iota
	// Counts of events per interval (requests per minute): the model works
	// on log(1+x), where seasonal and bursty traffic is closer to additive
	// and symmetric, never assumes less than Poisson noise, and a window
	// must also be surprising under a negative binomial with the
	// predicted mean and variance. Negative values are skipped.
	Counts
)

// Direction says which deviations are anomalous.
type Direction uint8

const (
	// Both: rises and falls (two-sided p-value, twice the smaller tail).
	Both Direction = iota
	// Up: only values above the expectation.
	Up
	// Down: only values below the expectation.
	Down
)

// Seasonality says whether hour-of-day and day-of-week profiles are used.
type Seasonality uint8

const (
	// SeasonAuto learns the profiles and uses them for an observation when
	// its hour-of-day bucket has Options.SeasonDays days of history and
	// the seasonal model has predicted recent observations clearly better
	// than recent history alone.
	SeasonAuto Seasonality = iota
	// SeasonOff never uses (or learns) profiles: recent history only.
	SeasonOff
	// SeasonOn uses the profiles as soon as the bucket has enough history,
	// without asking for evidence that they help.
	SeasonOn
)

// Options configure a Scorer. The zero value is usable: every zero field
// takes the default documented on it.
type Options struct {
	Kind      Kind
	Direction Direction

	// HalfLife is the memory of the recent-history baseline, in time, not
	// observations, so gaps and irregular sampling age it correctly.
	// Zero means 30 typical sampling intervals, the interval being learned
	// from the series (a robust running geometric mean of the gaps).
	HalfLife time.Duration

	// MinHistory is how many observations are absorbed before any is
	// scored; until then scores are 0. Default 10.
	MinHistory int

	// PValue is the tail probability that scores 0.5; the score is
	// e/(e+e0) with e = -log10 p and e0 = -log10 PValue. Observations
	// below it are also the ones absorbed only partly into the baseline.
	// Default 1e-6, as detect uses.
	PValue float64

	// Clip winsorises ordinary updates at this many predictive spreads
	// from the expectation. Default 4.
	Clip float64

	// MinSpread is the smallest predictive standard deviation believed,
	// in the units of the values (Continuous only). Zero means 1e-9 of
	// the expected magnitude (and 1e-12 absolute), so a perfectly
	// constant series that moves is anomalous but float rounding is not.
	MinSpread float64

	Seasonality Seasonality

	// Shifts adds a test for sustained shifts: an exponentially weighted
	// mean of recent standardised residuals (memory a tenth of the
	// recent half-life), judged against its own measured spread, so that
	// a level moving by a few spreads and staying there is found within
	// a few observations although no single value is surprising. An
	// observation's p-value is then the smaller of the two tests', times
	// two. Off by default: the point test alone is the one calibrated by
	// the tests and shared with detect.
	Shifts bool

	// SeasonDays is how many distinct days an hour-of-day bucket must
	// have seen before the seasonal model is used for it. Default 3. (A
	// weekday's offset is used from its second week on: it rests on a
	// whole day of observations.)
	SeasonDays int

	// Location decides which hour and weekday an instant falls in.
	// Default UTC. It is saved in checkpoints by name.
	Location *time.Location
}

// Defaults.
const (
	defaultHalfLifeIntervals = 30
	defaultMinHistory        = 10
	defaultPValue            = 1e-6
	defaultClip              = 4
	defaultSeasonDays        = 3
	maxSeasonDays            = 1 << 20 // bucket visit counters are 32-bit
)

// normalized returns o with defaults filled in and nonsense replaced, so
// no option value can make the scorer misbehave.
func (o Options) normalized() Options {
	if o.HalfLife < 0 {
		o.HalfLife = 0
	}
	if o.MinHistory <= 0 {
		o.MinHistory = defaultMinHistory
	}
	if !(o.PValue > 0 && o.PValue < 1) {
		o.PValue = defaultPValue
	}
	if !(o.Clip > 0) || math.IsInf(o.Clip, 0) {
		o.Clip = defaultClip
	}
	if !(o.MinSpread >= 0) || math.IsInf(o.MinSpread, 0) {
		o.MinSpread = 0
	}
	if o.SeasonDays <= 0 {
		o.SeasonDays = defaultSeasonDays
	}
	o.SeasonDays = min(o.SeasonDays, maxSeasonDays)
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Kind > Counts {
		o.Kind = Continuous
	}
	if o.Direction > Down {
		o.Direction = Both
	}
	if o.Seasonality > SeasonOn {
		o.Seasonality = SeasonAuto
	}
	return o
}
