package par

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRowsCoversEachIndexOnce(t *testing.T) {
	for _, procs := range []int{1, 2, 3, 8} {
		old := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
			hits := make([]int32, n)
			var calls atomic.Int32
			Rows(n, func(lo, hi int) {
				calls.Add(1)
				require.Less(t, lo, hi, "empty range")
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			})
			for i, h := range hits {
				require.EqualValues(t, 1, h, "GOMAXPROCS=%d n=%d index %d", procs, n, i)
			}
			require.LessOrEqual(t, int(calls.Load()), max(procs, 1), "GOMAXPROCS=%d n=%d", procs, n)
		}
		runtime.GOMAXPROCS(old)
	}
}

func TestRowsAtLeast(t *testing.T) {
	old := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(old)
	for _, c := range []struct{ n, grain, maxCalls int }{{15, 16, 1}, {40, 16, 2}, {1000, 16, 4}, {5, 0, 4}} {
		var calls atomic.Int32
		covered := make([]int32, c.n)
		RowsAtLeast(c.n, c.grain, func(lo, hi int) {
			calls.Add(1)
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&covered[i], 1)
			}
		})
		require.LessOrEqual(t, int(calls.Load()), c.maxCalls, "%+v", c)
		for i, v := range covered {
			require.EqualValues(t, 1, v, "%+v index %d", c, i)
		}
	}
}
