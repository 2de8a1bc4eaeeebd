// Package par splits loops over goroutines. It is the one helper every
// package of vkdeit uses to spread independent rows over the CPUs.
package par

import (
	"runtime"
	"sync"
)

// Rows calls f on contiguous, disjoint ranges [lo, hi) covering [0, n), one
// goroutine per available CPU (GOMAXPROCS), and waits for all of them. With
// one CPU, or n ≤ 1, f runs once on the calling goroutine. The ranges differ
// in length by at most one chunk, so f must not assume a fixed size.
func Rows(n int, f func(lo, hi int)) { RowsAtLeast(n, 1, f) }

// RowsAtLeast is Rows giving each goroutine at least grain rows, so that
// small inputs (a tiny image) do not pay for goroutines they cannot use.
func RowsAtLeast(n, grain int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := min(runtime.GOMAXPROCS(0), n/max(grain, 1))
	if workers <= 1 {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, min(chunk, n)) // the first range on the caller: one goroutine fewer
	wg.Wait()
}
