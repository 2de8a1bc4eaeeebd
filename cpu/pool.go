package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// task is one parallel job: run(worker, i) does item i of the job on the
// worker with index worker (0 ≤ worker < pool.workers), whose scratch it may
// use. Items may run in any order and on any worker, so a task's result must
// not depend on which worker runs which item.
type task interface {
	run(worker, i int)
}

// pool is a fixed set of worker goroutines created once, so a kernel call
// costs a few atomic operations rather than new goroutines, and allocates
// nothing. One job runs at a time (do holds mu); the calling goroutine
// works as worker 0 and workers 1..n-1 are the pool's goroutines. Items are
// handed out through an atomic counter, so uneven items balance themselves.
//
// A forward pass is a chain of short kernel calls (a dozen per layer, some
// under 50 µs), so waking a parked thread for each (a futex round trip, tens
// of microseconds in a VM) and parking the caller until the last worker is
// done would leave cores idle between them. So both sides spin first, as
// OpenMP runtimes do: an idle worker polls for the next job, and the caller
// polls for the workers to finish, for up to spinFor each, and only then
// park on a channel (so an idle pool costs no CPU) — except while the
// machine is oversubscribed (contended), when they park at once.
type pool struct {
	mu      sync.Mutex
	workers int
	job     task
	n       int64
	next    atomic.Int64
	gen     atomic.Uint64 // bumped once per job (and by close): workers start when it moves
	pending atomic.Int64  // helpers still in the current job
	helpers []sleeper     // worker w is helpers[w-1]
	caller  sleeper       // the goroutine in do, waiting for pending to reach 0
	spin    atomic.Bool   // whether waits poll before parking (not contended)
	closed  atomic.Bool   // close may run twice: Kernels.Close, then the cleanup

	// The caller's sampling of contention (under mu).
	switchCount func() int64 // involuntarySwitches (tests substitute their own)
	checked     time.Time
	switches    int64
	rate        float64 // involuntary switches per contentionCheck, averaged
	busy        bool
}

// spinFor bounds how long a worker polls for the next job, and the caller
// for the workers, before parking (they do not poll at all while the
// machine is contended).
const spinFor = 50 * time.Microsecond

// sleeper is the park/wake handshake of one waiting goroutine: it sets
// parked and rechecks its condition before blocking on wake; the waker
// sends a token only if it wins the CompareAndSwap of parked back to false,
// so every token sent is received exactly once.
type sleeper struct {
	parked atomic.Bool
	wake   chan struct{}
}

// wait returns once ready() holds: polling it for up to spin first, then
// parked until a waker calls s.rouse after making ready() true.
func (s *sleeper) wait(ready func() bool, spin bool) {
	if spin && spinUntil(ready) {
		return
	}
	s.parked.Store(true)
	if ready() && s.parked.CompareAndSwap(true, false) {
		return
	}
	<-s.wake // parked, or rouse won the swap and sent (or is sending) a token
}

// rouse wakes s if it is parked (call it after making its condition true).
func (s *sleeper) rouse() {
	if s.parked.CompareAndSwap(true, false) {
		s.wake <- struct{}{}
	}
}

// spinUntil polls ready for up to spinFor and reports whether it held.
func spinUntil(ready func() bool) bool {
	var start time.Time
	for i := 0; ; i++ {
		if ready() {
			return true
		}
		if i&63 != 63 {
			spinPause()
			continue
		}
		if start.IsZero() {
			start = time.Now()
		} else if time.Since(start) > spinFor {
			return false
		}
	}
}

// contended reports whether the process's threads are being preempted by
// others — a moving average of the involuntary context switches
// (involuntarySwitches; none where unknown) per contentionCheck window
// above contentionSwitches — or the pool has more workers than GOMAXPROCS. The pool spins only while it is false,
// because on an oversubscribed machine polling takes core time from the
// threads waited for, and the scheduler then ranks the pool's threads,
// which seem busy, behind the competition: with a CPU hog beside a
// 2-thread pool, always spinning made a forward 1.3–1.6× slower than
// parking at once (see bench/RESULTS.md). Measured on a 2-core VM: about 3
// switches a window when quiet (the hypervisor's and the runtime's own
// threads), 10 with a hog while parking, 16 while spinning.
func (p *pool) contended(now time.Time) bool {
	dt := now.Sub(p.checked)
	if dt < contentionCheck {
		return p.busy
	}
	n := p.switchCount()
	if n >= 0 && p.switches >= 0 {
		per := float64(n-p.switches) * float64(contentionCheck) / float64(dt)
		p.rate = 0.75*p.rate + 0.25*per
	}
	// More workers than the Go scheduler runs at once: a poll would hold
	// the P that the goroutine it waits for needs.
	p.busy = p.rate > contentionSwitches || runtime.GOMAXPROCS(0) < p.workers
	p.switches, p.checked = n, now
	return p.busy
}

// contentionCheck is the window of the pool's sampling of involuntary
// context switches, and contentionSwitches the average per window above
// which it stops spinning.
const (
	contentionCheck    = 20 * time.Millisecond
	contentionSwitches = 6
)

// newPool starts threads-1 goroutines (threads ≤ 0 means GOMAXPROCS).
func newPool(threads int) *pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &pool{workers: threads, helpers: make([]sleeper, threads-1)}
	p.caller.wake = make(chan struct{}, 1)
	p.switchCount = involuntarySwitches
	p.switches = p.switchCount()
	for w := range p.helpers {
		p.helpers[w].wake = make(chan struct{}, 1)
		go p.loop(w + 1)
	}
	return p
}

func (p *pool) loop(w int) {
	s := &p.helpers[w-1]
	var seen uint64 // gen's value before any job: a job posted before this goroutine ran is still seen
	for {
		s.wait(func() bool { return p.gen.Load() != seen }, p.spin.Load())
		if p.closed.Load() {
			return
		}
		seen = p.gen.Load()
		p.drain(w)
		if p.pending.Add(-1) == 0 {
			p.caller.rouse()
		}
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
	if n == 1 || p.workers == 1 {
		for i := range n {
			t.run(0, i)
		}
		return
	}
	spin := !p.contended(time.Now())
	p.spin.Store(spin)
	p.job, p.n = t, int64(n)
	p.next.Store(0)
	p.pending.Store(int64(len(p.helpers)))
	p.gen.Add(1)
	for w := range p.helpers {
		p.helpers[w].rouse()
	}
	p.drain(0)
	p.caller.wait(func() bool { return p.pending.Load() == 0 }, spin)
	p.job = nil
}

// close stops the goroutines; the pool must not be used afterwards.
func (p *pool) close() {
	if p.closed.Swap(true) {
		return
	}
	p.gen.Add(1)
	for w := range p.helpers {
		p.helpers[w].rouse()
	}
}
