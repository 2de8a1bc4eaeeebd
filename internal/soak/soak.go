// Package soak measures what a soak test watches — goroutines, open file
// descriptors, resident memory — and fails when they grow. Only tests
// import it.
package soak

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Usage is what a soak watches: goroutines, open file descriptors and
// resident memory.
type Usage struct {
	Goroutines int
	FDs        int
	RSSKiB     int64
}

// Measure measures the process after letting finished goroutines exit and the
// garbage collector run, so that only what is really held counts.
func Measure(t testing.TB) Usage {
	t.Helper()
	var u Usage
	for range 50 { // goroutines that just returned take a moment to be gone
		runtime.GC()
		u.Goroutines = runtime.NumGoroutine()
		time.Sleep(time.Millisecond)
		if runtime.NumGoroutine() == u.Goroutines {
			break
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		u.FDs = len(fds)
	} else {
		u.FDs = -1
	}
	u.RSSKiB = -1
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					u.RSSKiB, _ = strconv.ParseInt(f[0], 10, 64)
				}
			}
		}
	}
	return u
}

// RequireFlat fails unless after shows no more than a few goroutines and
// file descriptors beyond before, and less than maxRSSGrowthMiB more
// resident memory, logging both.
func RequireFlat(t testing.TB, what string, before, after Usage, maxRSSGrowthMiB int64) {
	t.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%s: goroutines %d → %d, fds %d → %d, RSS %.1f → %.1f MiB (Go heap in use %.1f MiB)", what,
		before.Goroutines, after.Goroutines, before.FDs, after.FDs,
		float64(before.RSSKiB)/1024, float64(after.RSSKiB)/1024, float64(ms.HeapInuse)/(1<<20))
	require.LessOrEqual(t, after.Goroutines, before.Goroutines+2, "%s: goroutines grew", what)
	if before.FDs >= 0 && after.FDs >= 0 {
		require.LessOrEqual(t, after.FDs, before.FDs+2, "%s: file descriptors grew", what)
	}
	if before.RSSKiB >= 0 && after.RSSKiB >= 0 {
		require.Less(t, after.RSSKiB-before.RSSKiB, maxRSSGrowthMiB<<10, "%s: RSS grew", what)
	}
}
