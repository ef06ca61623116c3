package detect

import "math"

// quantile returns the q-quantile (nearest rank) of xs, reordering xs. It
// runs in expected linear time, so a window close can take medians over
// every active client without sorting them. NaN for an empty slice.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	q = math.Min(math.Max(q, 0), 1)
	k := int(math.Round(q * float64(len(xs)-1)))
	return selectKth(xs, k)
}

// selectKth returns the k-th smallest element of xs (0-based), reordering
// xs so that xs[k] holds it, smaller-or-equal elements come before and
// larger-or-equal after (quickselect, median-of-three pivots, Hoare
// partition). xs must hold no NaN.
func selectKth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Order xs[lo], xs[mid], xs[hi] so the pivot is their median:
		// sorted and equal inputs then partition evenly.
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
