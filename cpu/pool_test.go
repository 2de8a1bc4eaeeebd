package cpu

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type countTask struct {
	hits []atomic.Int32
	by   [8]atomic.Int32
}

func (c *countTask) run(w, i int) {
	c.hits[i].Add(1)
	c.by[w].Add(1)
}

// TestPool: every item runs exactly once, on a valid worker, for any item
// count and pool size, and the pool survives many jobs in a row.
func TestPool(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 8} {
		p := newPool(workers)
		for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
			for range 3 {
				c := &countTask{hits: make([]atomic.Int32, n)}
				p.mu.Lock()
				p.do(n, c)
				p.mu.Unlock()
				for i := range c.hits {
					require.EqualValues(t, 1, c.hits[i].Load(), "workers %d n %d item %d", workers, n, i)
				}
				var total int32
				for w := range c.by {
					total += c.by[w].Load()
					if w >= workers {
						require.Zero(t, c.by[w].Load())
					}
				}
				require.EqualValues(t, n, total)
			}
		}
		p.close()
		p.close()
	}
}

type nopTask struct{}

func (nopTask) run(int, int) {}

// BenchmarkPoolDispatch is the fixed cost of one kernel call's fan-out and
// join: two trivial items on two workers.
func BenchmarkPoolDispatch(b *testing.B) {
	p := newPool(2)
	defer p.close()
	var t nopTask
	for b.Loop() {
		p.mu.Lock()
		p.do(2, t)
		p.mu.Unlock()
	}
}

// slowTask's items sleep, so that the caller waits longer than spinFor and
// parks until the last worker wakes it.
type slowTask struct{ countTask }

func (s *slowTask) run(w, i int) {
	time.Sleep(3 * spinFor)
	s.countTask.run(w, i)
}

// TestPoolParks covers both parked paths of the spin-then-park handshake:
// workers idle past spinFor park and must be woken by the next job, and a
// caller whose workers outlast spinFor parks and must be woken by the last
// of them. Every job completes, every item once; close then ends the
// goroutines, parked ones included.
func TestPoolParks(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, workers := range []int{2, 4} {
		p := newPool(workers)
		for round := range 20 {
			time.Sleep(2 * spinFor) // the helpers park
			n := 1 + round%5
			var c task
			slow := &slowTask{countTask{hits: make([]atomic.Int32, n)}}
			fast := &countTask{hits: make([]atomic.Int32, n)}
			hits := fast.hits
			if round%2 == 1 {
				c, hits = slow, slow.hits
			} else {
				c = fast
			}
			p.mu.Lock()
			p.do(n, c)
			p.mu.Unlock()
			for i := range hits {
				require.EqualValues(t, 1, hits[i].Load(), "workers %d round %d item %d", workers, round, i)
			}
		}
		time.Sleep(2 * spinFor)
		p.close()
	}
	// (Polled here: require.Eventually runs its condition on a goroutine of its own.)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "the pool's goroutines outlive close")
}

// TestPoolContended: the pool stops spinning when the involuntary context
// switches average above contentionSwitches a window, resumes when they
// fall back, never stops where they are unknown, and runs every job either
// way.
func TestPoolContended(t *testing.T) {
	p := newPool(2)
	defer p.close()
	var count int64
	p.switchCount = func() int64 { return count }
	now := time.Now()
	step := func(perWindow int64) bool {
		count += perWindow
		now = now.Add(contentionCheck)
		return p.contended(now)
	}
	for range 10 {
		require.False(t, step(3), "quiet: 3 switches a window")
	}
	busy := 0
	for range 10 {
		if step(12) {
			busy++
		}
	}
	require.GreaterOrEqual(t, busy, 8, "12 switches a window: contended within two windows")
	require.True(t, p.contended(now.Add(contentionCheck/2)), "between samples the last answer holds")
	quiet := 0
	for range 10 {
		if !step(0) {
			quiet++
		}
	}
	require.GreaterOrEqual(t, quiet, 7, "no switches: spinning again within three windows")
	count = 0
	p.switchCount = func() int64 { return -1 }
	require.False(t, step(100), "unknown counts: never contended")
	big := newPool(runtime.GOMAXPROCS(0) + 1)
	defer big.close()
	big.switchCount = p.switchCount
	require.True(t, big.contended(time.Now().Add(time.Hour)), "more workers than GOMAXPROCS: polling would starve them")

	for _, busy := range []bool{false, true} {
		p.busy, p.checked = busy, time.Now().Add(time.Hour) // held until then
		c := &countTask{hits: make([]atomic.Int32, 50)}
		for range 20 {
			p.mu.Lock()
			p.do(len(c.hits), c)
			p.mu.Unlock()
		}
		for i := range c.hits {
			require.EqualValues(t, 20, c.hits[i].Load(), "busy %v item %d", busy, i)
		}
	}
}
