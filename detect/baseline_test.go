package detect

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

var noClip = [4]float64{math.Inf(-1), math.Inf(1), math.Inf(-1), math.Inf(1)}

// TestVolumeBaselineWarmStart checks that a young baseline is a plain
// mean and (population) variance of what it saw, as gonum computes them.
func TestVolumeBaselineWarmStart(t *testing.T) {
	t.Parallel()
	a := alpha(30)
	xs := []float64{4, 8, 6, 5, 7, 3, 9}
	var b volumeBaseline
	for _, x := range xs {
		b.update(x, noClip[0], noClip[1], noClip[2], noClip[3], a, false)
	}
	mean, sd := stat.PopMeanStdDev(xs, nil)
	if math.Abs(b.mean-mean) > 1e-12 || math.Abs(b.vari-sd*sd) > 1e-12 || b.n != uint32(len(xs)) {
		t.Errorf("baseline mean %v var %v n %d; want %v, %v, %d", b.mean, b.vari, b.n, mean, sd*sd, len(xs))
	}
}

// TestVolumeBaselineConverges feeds long stationary series and checks the
// predictive mean and variance, including the Poisson floor and the
// overdispersion a heavy client shows.
func TestVolumeBaselineConverges(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name         string
		draw         func() float64
		mean, varMin float64
		varMax       float64
	}{
		{"poisson 2", func() float64 { return distuv.Poisson{Lambda: 2, Src: r}.Rand() }, 2, 1.6, 3},
		{"constant 6 (monitor)", func() float64 { return 6 }, 6, 6, 6.5}, // Poisson floor
		{"heavy 3000±300", func() float64 { return 3000 + 300*r.NormFloat64() }, 3000, 60000, 130000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := alpha(30)
			var b volumeBaseline
			for range 2000 {
				b.update(tc.draw(), noClip[0], noClip[1], noClip[2], noClip[3], a, false)
			}
			m, v := b.predict(a, dispersionPrior{})
			if math.Abs(m-tc.mean) > 0.15*tc.mean || v < tc.varMin || v > tc.varMax {
				t.Errorf("predict = %v ± %v (var %v); want %v, var in [%v, %v]", m, math.Sqrt(v), v, tc.mean, tc.varMin, tc.varMax)
			}
		})
	}
}

// TestVolumeBaselineWinsorised checks that an attack cannot poison the
// baseline: guarded windows are clipped and leave the spread alone.
func TestVolumeBaselineWinsorised(t *testing.T) {
	t.Parallel()
	a := alpha(30)
	var b volumeBaseline
	for i := range 100 {
		b.update(float64(2+i%3), noClip[0], noClip[1], noClip[2], noClip[3], a, false)
	}
	before := b
	mean, v := b.predict(a, dispersionPrior{})
	lm, lsd, _ := b.predictLog(a, dispersionPrior{})
	for range 30 { // half an hour of 50 req/min, judged anomalous
		hi := mean + clipGuarded*math.Sqrt(v)
		b.update(50, math.Inf(-1), hi, math.Inf(-1), lm+clipGuarded*lsd, a, true)
	}
	if b.vari != before.vari || b.lv != before.lv {
		t.Error("guarded windows changed the spread")
	}
	if m2, _ := b.predict(a, dispersionPrior{}); m2 > before.mean+clipGuarded*math.Sqrt(v) || m2 > 50/DefaultMinRatio {
		t.Errorf("after 30 attack windows the mean is %v (was %v): poisoned", m2, before.mean)
	}
}

func TestRatioBaseline(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	a := alpha(ratioHalfLives * 30)
	var empty ratioBaseline
	if p, d, n := empty.expect(a, 0.02); p != 0.02 || d != 1 || n != priorRequests {
		t.Errorf("empty baseline expects %v, %v, %v; want the prior", p, d, n)
	}
	for _, tc := range []struct {
		name       string
		draw       func(n int) float64
		p          float64
		dispLo, hi float64
	}{
		{"binomial 1%", func(n int) float64 { return distuv.Binomial{N: float64(n), P: 0.01, Src: r}.Rand() }, 0.01, 1, 1.3},
		{"bursty 2%", func(n int) float64 {
			// Most windows clean, some with a burst: overdispersed.
			if r.IntN(10) == 0 {
				return distuv.Binomial{N: float64(n), P: 0.2, Src: r}.Rand()
			}
			return 0
		}, 0.02, 2, 30},
	} {
		var b ratioBaseline
		for range 3000 {
			n := 20 + r.IntN(20)
			k := tc.draw(n)
			p, _, _ := b.expect(a, 0.01)
			b.update(k, float64(n), p, math.Inf(1), a, false)
		}
		p, disp, _ := b.expect(a, 0.01)
		if math.Abs(p-tc.p) > 0.35*tc.p || disp < tc.dispLo || disp > tc.hi {
			t.Errorf("%s: p %v dispersion %v; want ~%v, dispersion in [%v, %v]", tc.name, p, disp, tc.p, tc.dispLo, tc.hi)
		}
	}
}

// TestRatioBaselineShrinks checks the population prior: a client with a
// few clean requests is not believed to never fail.
func TestRatioBaselineShrinks(t *testing.T) {
	t.Parallel()
	a := alpha(ratioHalfLives * 30)
	var b ratioBaseline
	for range 10 {
		b.update(0, 2, 0.01, math.Inf(1), a, false)
	}
	if p, _, _ := b.expect(a, 0.01); p < 0.005 {
		t.Errorf("20 clean requests give p = %v: not shrunk towards the population's 1%%", p)
	}
}

func TestWeights(t *testing.T) {
	t.Parallel()
	a := alpha(30)
	if h := math.Pow(1-a, 30); math.Abs(h-0.5) > 1e-12 {
		t.Errorf("(1-alpha)^30 = %v, want 0.5", h)
	}
	if weight(0, a) != 1 || weight(1, a) != 0.5 || weight(1000, a) != a {
		t.Error("warm-start weights")
	}
	if effectiveWindows(5, a) != 5 || math.Abs(effectiveWindows(1e6, a)-(2-a)/a) > 1e-9 {
		t.Error("effective windows")
	}
}

// TestPredictLogDegreesOfFreedom checks the Welch–Satterthwaite degrees of
// freedom: Poisson noise is known, so a client whose spread is all Poisson
// gets a normal tail; one whose spread is mostly its own excess gets about
// as many degrees of freedom as windows behind it, and the fleet's prior
// widens a young baseline that happened to be calm.
func TestPredictLogDegreesOfFreedom(t *testing.T) {
	t.Parallel()
	a := alpha(30)
	var steady, bursty volumeBaseline
	for i := range 20 {
		steady.update(10, noClip[0], noClip[1], noClip[2], noClip[3], a, false)
		bursty.update(float64(10+40*(i%2)), noClip[0], noClip[1], noClip[2], noClip[3], a, false)
	}
	if _, _, dof := steady.predictLog(a, dispersionPrior{}); !math.IsInf(dof, 1) {
		t.Errorf("constant client: %v degrees of freedom, want infinite", dof)
	}
	if _, _, dof := bursty.predictLog(a, dispersionPrior{}); dof < 19 || dof > 40 {
		t.Errorf("bursty client over 20 windows: %v degrees of freedom", dof)
	}
	// 20 calm windows against a prior of 10 windows at 0.3: the excess is
	// (20·0 + 10·0.3)/30 = 0.1, inflated by 1+1/20 for the mean.
	_, sd, dof := steady.predictLog(a, dispersionPrior{excess: 0.3})
	if want := math.Sqrt((10.0/121 + 0.1) * 1.05); math.Abs(sd-want) > 1e-12 || math.IsInf(dof, 1) {
		t.Errorf("fleet prior on logs: sd %v, want %v; dof %v", sd, want, dof)
	}
	if _, v := steady.predict(a, dispersionPrior{kappa: 0.3}); math.Abs(v-(10+0.1*100)*1.05) > 1e-9 {
		t.Errorf("fleet prior on counts: var %v, want 21", v)
	}
}
