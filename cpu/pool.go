package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// task is one parallel job: run(worker, i) does item i of the job on the
// worker with index worker (0 ≤ worker < pool.workers), whose scratch it may
// use. Items may run in any order and on any worker, so a task's result must
// not depend on which worker runs which item.
type task interface {
	run(worker, i int)
}

// pool is a fixed set of worker goroutines created once, so a kernel call
// costs a few wake-ups rather than new goroutines, and allocates nothing.
// One job runs at a time (do holds mu); the calling goroutine works as
// worker 0 and workers 1..n-1 are the pool's goroutines. Items are handed
// out through an atomic counter, so uneven items balance themselves.
type pool struct {
	mu      sync.Mutex
	workers int
	wake    []chan struct{} // one per goroutine worker (index w-1)
	done    sync.WaitGroup
	job     task
	n       int64
	next    atomic.Int64
	closed  atomic.Bool // close may run twice: Kernels.Close, then the cleanup
}

// newPool starts threads-1 goroutines (threads ≤ 0 means GOMAXPROCS).
func newPool(threads int) *pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &pool{workers: threads, wake: make([]chan struct{}, threads-1)}
	for w := range p.wake {
		p.wake[w] = make(chan struct{}, 1)
		go p.loop(w + 1)
	}
	return p
}

func (p *pool) loop(w int) {
	for range p.wake[w-1] {
		p.drain(w)
		p.done.Done()
	}
}

// drain runs items of the current job until none is left.
func (p *pool) drain(w int) {
	for {
		i := p.next.Add(1) - 1
		if i >= p.n {
			return
		}
		p.job.run(w, int(i))
	}
}

// do runs items 0..n-1 of t over the workers and returns when all are done.
// The caller must hold p.mu (Kernels does, for the whole kernel call, which
// also guards the per-worker scratch).
func (p *pool) do(n int, t task) {
	if n <= 0 {
		return
	}
	helpers := min(p.workers, n) - 1
	if helpers == 0 {
		for i := range n {
			t.run(0, i)
		}
		return
	}
	p.job, p.n = t, int64(n)
	p.next.Store(0)
	p.done.Add(helpers)
	for w := range helpers {
		p.wake[w] <- struct{}{}
	}
	p.drain(0)
	p.done.Wait()
	p.job = nil
}

// close stops the goroutines; the pool must not be used afterwards.
func (p *pool) close() {
	if p.closed.Swap(true) {
		return
	}
	for _, c := range p.wake {
		close(c)
	}
}
