// Package series scores a single time series, one observation at a time,
// against its own past: the statistics of gatewatch's per-client
// detectors, usable on any series of (time, value) pairs, so that they
// can be checked on public labelled benchmarks (nab.go reads the Numenta
// Anomaly Benchmark's files) and reused where there is no API traffic.
//
//	s := series.New(series.Options{Kind: series.Counts})
//	for _, p := range points {
//		r := s.Observe(p.Time, p.Value) // r.Score in [0,1]; 0.5 at Options.PValue
//	}
//
// # Why the model is shaped as it is
//
// A score is a tail probability under a prediction, mapped to [0,1] as
// detect does (e/(e+e0), e = -log10 p), so scores from series of any
// scale are comparable and a threshold means a false-alarm rate. Tails are
// computed in log space with gonum's incomplete gamma and beta functions:
// 1-CDF loses everything below 1e-16, and extreme observations should
// stay ranked.
//
// Memory is measured in time, not observations. Monitoring data arrives
// irregularly and with gaps; a baseline that forgets per observation
// would treat a week's outage as one step. Every weight decays by
// 2^(-Δt/HalfLife), and after a long gap the history counts for less, so
// the first values after it are judged with wide (Student-t) tails and
// not at all once less than one observation's worth is left.
//
// Recent history is a local line, not a mean (recent.go): a mean lags any
// slope and calls the lag noise, which on a smooth daily curve hides
// spikes; the line's spread is that of its own one-step errors.
//
// Seasonality (hour of day, day of week) is learned alongside (seasonal
// prediction = the hour's time-decayed mean, plus the weekday's offset
// once seen in an earlier week, plus the recent departure from that
// profile) and used where its bucket has Options.SeasonDays days of
// history and it has predicted clearly better than recent history alone.
// The comparison matters: a seasonal profile fitted to a series without
// seasonality only adds noise, and a finely sampled smooth series is
// predicted well by recent history anyway; an abrupt daily step (business
// hours, a nightly batch) is where the profile earns its place, and where
// recent history would alarm every day.
//
// Counts are modelled on log(1+x), where traffic's variations are closer
// to additive, and judged between a negative binomial (the Poisson core
// of a count, which the log scale compresses) and a Student-t on the log
// scale (robust to bursty traffic), by how much of the variance is the
// series' own overdispersion. The predictive variance of a count is never
// below Poisson noise, so a perfectly regular series is not held to zero
// spread.
//
// Updates are winsorised so that an anomaly does not teach the baseline
// to accept it: ordinary values are clipped at Options.Clip spreads, a
// suspect one (p below the square root of PValue) at two and a flagged
// one at one spread, and neither widens the spread at all. A deviation that persists for Options.MinHistory
// observations in a row is a new regime and absorbed normally.
//
// That protection assumes the model's tails are right, and on sparse,
// spiky series (a count that is mostly 0 to 2 with bursts, scored as
// continuous values) they are not: a spread learnt only from the values
// it already expects collapses, and then nearly everything is flagged.
// So the model checks itself, three ways: where suspect values are
// clearly more common than its tails allow, they are winsorised and
// learnt from like ordinary ones; recent history's spread is not
// believed below half its long-run typical error; and each p-value is
// checked against the model's own record, so that an isolated spike of
// a size that has come and gone often before is scored by how often it
// has (see "Calibration" in scorer.go). On noise that fits the model
// the first two never act and the third moves a p-value by less than
// the width of its bin.
//
// Each observation is judged alone unless Options.Shifts adds a chart of
// recent residuals, which finds a level that moves a few spreads and
// stays there; it is opt-in because its evidence is less robust than the
// point test's (shift.go).
//
// A Scorer is a plain value of about 2.3 KB with no pointers but its
// Location: copying it forks it, MarshalBinary checkpoints it, and
// Observe allocates nothing. See README.md for measured figures and the
// evaluation.
package series
