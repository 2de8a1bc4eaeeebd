package stats

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	// numpy.percentile([1, 2, 3, 4], p): linear interpolation.
	xs := []float64{1, 2, 3, 4}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {50, 2.5}, {75, 3.25}, {100, 4}} {
		require.InDelta(t, c.want, Percentile(xs, c.p), 1e-12, "p%g", c.p)
	}
	require.True(t, math.IsNaN(Percentile(nil, 50)))
}

func TestDurationPercentile(t *testing.T) {
	ds := []time.Duration{40, 10, 30, 20}
	require.Equal(t, time.Duration(25), DurationPercentile(ds, 50))
	require.Equal(t, time.Duration(40), DurationPercentile(ds, 100))
	require.Equal(t, []time.Duration{10, 20, 30, 40}, ds, "sorted in place")
	require.Zero(t, DurationPercentile(nil, 50))
}
