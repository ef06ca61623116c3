package series_test

import (
	"fmt"
	"time"

	"github.com/gatewatch/gatewatch/detect/series"
)

// Requests per minute of one API client: steady at about 20, then a
// burst. Scores are 0 during warm-up, low for ordinary values and above
// 0.5 for the burst.
func Example() {
	s := series.New(series.Options{Kind: series.Counts})
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	counts := []float64{18, 22, 19, 21, 20, 23, 17, 20, 22, 19, 21, 18, 20, 24, 19, 22, 20, 21, 19, 20}
	for i, c := range counts {
		s.Observe(start.Add(time.Duration(i)*time.Minute), c)
	}
	for i, c := range []float64{23, 95, 21} {
		r := s.Observe(start.Add(time.Duration(len(counts)+i)*time.Minute), c)
		fmt.Printf("%3.0f requests: expected %.0f±%.0f, score %.2f\n", c, r.Expected, r.Spread, r.Score)
	}
	// Output:
	//  23 requests: expected 20±5, score 0.03
	//  95 requests: expected 21±5, score 0.84
	//  21 requests: expected 22±5, score 0.00
}

// Checkpointing: a Scorer restored from MarshalBinary continues exactly
// where the saved one was.
func ExampleScorer_MarshalBinary() {
	var a series.Scorer // the zero value: continuous values, defaults
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		a.Observe(start.Add(time.Duration(i)*time.Minute), 50+float64(i%5))
	}
	data, err := a.MarshalBinary()
	if err != nil {
		fmt.Println(err)
		return
	}
	var b series.Scorer
	if err := b.UnmarshalBinary(data); err != nil {
		fmt.Println(err)
		return
	}
	next := start.Add(100 * time.Minute)
	fmt.Println(a.Observe(next, 80) == b.Observe(next, 80))
	// Output: true
}
