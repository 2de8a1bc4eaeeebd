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
