package bench

import (
	"math"
	"sort"
	"time"

	"github.com/vkdeit/vkdeit/internal/stats"
)

// Stats summarizes a set of latency samples in milliseconds. Percentiles use
// linear interpolation between the closest ranks (numpy's default), so p50 of
// an even number of samples is the mean of the two middle ones.
type Stats struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	Min  float64 `json:"min_ms"`
	Max  float64 `json:"max_ms"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	// Std is the sample standard deviation (n−1 in the denominator); 0 for one sample.
	Std float64 `json:"std_ms"`
}

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted, an
// ascending slice, interpolating linearly between the closest ranks (as
// numpy.percentile does); NaN for an empty slice.
func Percentile(sorted []float64, p float64) float64 { return stats.Percentile(sorted, p) }

// Summarize computes Stats of the given durations. The input is not modified.
func Summarize(samples []time.Duration) Stats {
	ms := make([]float64, len(samples))
	for i, d := range samples {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	return SummarizeMillis(ms)
}

// SummarizeMillis computes Stats of samples given in milliseconds. The input
// is not modified. An empty input gives N = 0 and NaN statistics.
func SummarizeMillis(ms []float64) Stats {
	s := Stats{N: len(ms)}
	if len(ms) == 0 {
		nan := math.NaN()
		s.Mean, s.Min, s.Max, s.P50, s.P95, s.P99, s.Std = nan, nan, nan, nan, nan, nan, nan
		return s
	}
	sorted := append([]float64(nil), ms...)
	sort.Float64s(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	s.Mean = sum / float64(len(sorted))
	if len(sorted) > 1 {
		var ss float64
		for _, v := range sorted {
			d := v - s.Mean
			ss += d * d
		}
		s.Std = math.Sqrt(ss / float64(len(sorted)-1))
	}
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.P50 = Percentile(sorted, 50)
	s.P95 = Percentile(sorted, 95)
	s.P99 = Percentile(sorted, 99)
	return s
}
