package cpu

import (
	"sync/atomic"
	"testing"

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
