package bench

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	// Expected values are numpy.percentile(xs, p) (linear interpolation).
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, 50, 2.5},
		{[]float64{1, 2, 3, 4}, 95, 3.85},
		{[]float64{1, 2, 3, 4}, 99, 3.97},
		{[]float64{1, 2, 3, 4}, 0, 1},
		{[]float64{1, 2, 3, 4}, 100, 4},
		{[]float64{1, 2, 3, 4}, 25, 1.75},
		{[]float64{7}, 50, 7},
		{[]float64{7}, 99, 7},
		{[]float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 90, 91},
		{[]float64{-3, 0, 5}, 50, 0},
	}
	for _, tc := range tests {
		require.InDelta(t, tc.want, Percentile(tc.xs, tc.p), 1e-12, "percentile %g of %v", tc.p, tc.xs)
	}
	require.True(t, math.IsNaN(Percentile(nil, 50)))
}

func TestSummarize(t *testing.T) {
	// Unsorted input; the result must not depend on the order and must not reorder it.
	in := []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	s := Summarize(in)
	require.Equal(t, 4, s.N)
	require.InDelta(t, 2.5, s.Mean, 1e-12)
	require.InDelta(t, 1, s.Min, 1e-12)
	require.InDelta(t, 4, s.Max, 1e-12)
	require.InDelta(t, 2.5, s.P50, 1e-12)
	require.InDelta(t, 3.85, s.P95, 1e-12)
	require.InDelta(t, 3.97, s.P99, 1e-12)
	require.InDelta(t, math.Sqrt(5.0/3.0), s.Std, 1e-12) // sample std of 1..4
	require.Equal(t, 4*time.Millisecond, in[0], "input reordered")

	one := Summarize([]time.Duration{1500 * time.Microsecond})
	require.Equal(t, 1, one.N)
	require.InDelta(t, 1.5, one.P99, 1e-12)
	require.Zero(t, one.Std)

	empty := Summarize(nil)
	require.Zero(t, empty.N)
	require.True(t, math.IsNaN(empty.P50))
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name       string
		got, want  []float32
		maxAbs, rl float64
		worst      int
	}{
		{"equal", []float32{1, 2, 3}, []float32{1, 2, 3}, 0, 0, 0},
		{"one off", []float32{1, 2, 3.5}, []float32{1, 2, 3}, 0.5, 0.5 / math.Sqrt(14), 2},
		{"zero want", []float32{3, 4}, []float32{0, 0}, 4, 5, 1},
		{"nan", []float32{1, float32(math.NaN())}, []float32{1, 1}, math.Inf(1), math.Inf(1), 1},
		{"length", []float32{1}, []float32{1, 2}, math.Inf(1), math.Inf(1), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Compare(tc.got, tc.want)
			require.Equal(t, tc.worst, d.Worst)
			if math.IsInf(tc.maxAbs, 1) {
				require.True(t, math.IsInf(d.MaxAbs, 1))
				require.True(t, math.IsInf(d.RelL2, 1))
				return
			}
			require.InDelta(t, tc.maxAbs, d.MaxAbs, 1e-9)
			require.InDelta(t, tc.rl, d.RelL2, 1e-9)
		})
	}
}
