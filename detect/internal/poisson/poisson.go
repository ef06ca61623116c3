// Package poisson holds the Poisson noise floor that the detect Engine's
// per-client volume baselines and detect/series' count scorer share, so
// that both judge counts against the same floor.
package poisson

// LogVar is the variance of log1p(X) for X ~ Poisson(m), by the delta
// method: m/(1+m)². Counts are modelled on the log1p scale, and a
// predictive variance there is never taken below it, so a perfectly
// regular count (a health check) is not held to zero spread.
func LogVar(m float64) float64 { return m / ((1 + m) * (1 + m)) }

// MinLogSD floors the log-scale spread of a count baseline, so that a
// count that has never varied is still judged against some noise.
const MinLogSD = 0.05
