package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
)

// batcher is the dynamic batcher: requests from every client and both
// protocols share its queue; a dispatcher goroutine forms batches of up to
// maxBatch images, or fewer once the oldest queued request has waited
// maxDelay, whenever the engine is free; an executor goroutine runs each
// batch as one engine call and copies every request's rows back into its
// own result buffers, so results never mix. A request larger than maxBatch
// is split over consecutive batches.
//
// On an engine that streams (engine.Streamer: the GPU engine) the executor
// keeps up to two batches in flight: a full batch without taps starts a
// ForwardStream, and while the engine computes it the executor asks the
// dispatcher for the next full batch (more), whose upload then overlaps
// that compute. Partial batches and batches with taps run as before, when
// the engine is free, so batching under light load is unchanged.
//
// The queue is bounded in images: admit reserves a request's places before
// any work is done (so a full queue answers at once), handing images to a
// batch releases them, and a request whose client gives up (deadline,
// cancellation) releases the places of its images not yet handed out.
type batcher struct {
	eng      engine.Engine
	streamer engine.Streamer // eng, when it streams; else nil
	maxBatch int
	maxDelay time.Duration
	maxQueue int64
	per      int // pixel values per image
	rowL     int // logits per image
	rowE     int // embedding values per image (HeadTokens × Hidden)
	rowA     int // attention-map values per image (Special × grid²)
	cfg      deit.Config
	met      *modelMetrics
	log      *slog.Logger

	queued atomic.Int64 // admitted images not yet handed to a batch
	// images and batches count engine work, for Bench's mean batch size.
	images, batches atomic.Int64

	mu       sync.RWMutex // orders admit against close
	closing  bool
	inflight sync.WaitGroup // admitted tickets not yet closed

	in        chan *job       // new jobs, to the dispatcher
	exec      chan *batch     // formed batches, to the executor
	freed     chan []float32  // the executor's batch buffers, back to the dispatcher
	want      chan struct{}   // the executor, streaming, asks for the next full batch
	wanted    chan *batch     // the dispatcher's answer to want: a full batch or nil
	drain     chan struct{}   // closed by close: dispatch without waiting for max delay
	quit      chan struct{}   // closed by stop: the dispatcher returns
	stopped   sync.WaitGroup  // the dispatcher and the executor
	abortCtx  context.Context // canceled by abort; engine calls run under it
	abortFn   context.CancelFunc
	drainOnce sync.Once
}

// newBatcher returns a stopped batcher; start launches its goroutines.
func newBatcher(eng engine.Engine, cfg deit.Config, maxBatch int, maxDelay time.Duration, maxQueue int, met *modelMetrics, log *slog.Logger) *batcher {
	ctx, cancel := context.WithCancel(context.Background())
	st, _ := eng.(engine.Streamer)
	return &batcher{
		eng: eng, streamer: st, maxBatch: maxBatch, maxDelay: maxDelay, maxQueue: int64(maxQueue),
		per:  cfg.Channels * cfg.ImageSize * cfg.ImageSize,
		rowL: cfg.NumLabels, rowE: cfg.HeadTokens() * cfg.Hidden, rowA: attentionRow(cfg), cfg: cfg,
		met: met, log: log,
		in: make(chan *job, 64), exec: make(chan *batch, 1), freed: make(chan []float32, 2),
		want: make(chan struct{}), wanted: make(chan *batch, 1),
		drain: make(chan struct{}), quit: make(chan struct{}),
		abortCtx: ctx, abortFn: cancel,
	}
}

// job is one request's images on their way through the batcher.
type job struct {
	n    int
	taps deit.Tap  // what the request wants besides logits: its batches ask the engine for these taps
	enq  time.Time // when it entered the queue

	mu        sync.Mutex
	pixels    []float32 // n images; nil once all are handed out or the job is abandoned
	next      int       // images handed to batches so far
	abandoned bool
	err       error // the first failure of one of its batches

	// res is written by the executor, each image's rows exactly once; it
	// is read only after done.
	res  results
	left atomic.Int64 // images not yet computed
	done chan struct{}
}

// segment is a run of one job's images inside a batch.
type segment struct {
	j        *job
	from, n  int
	lastPart bool // the job's last images: its queue time ends here
}

// batch is one engine execution.
type batch struct {
	segs   []segment
	n      int
	taps   deit.Tap // every segment's taps
	pixels []float32
	buf    []float32 // the dispatcher's buffer, returned through freed
	start  time.Time // when a stream handed it to the engine
}

// ticket is one admitted request's claim on queue places.
type ticket struct {
	b    *batcher
	n    int
	j    *job
	once sync.Once
}

// start launches the dispatcher and the executor.
func (b *batcher) start() {
	b.stopped.Add(2)
	go b.dispatch()
	go b.execute()
}

// admit reserves n queue places for a request, or refuses it at once:
// errShuttingDown once close has begun, errQueueFull when the places are
// taken. The ticket must be closed.
func (b *batcher) admit(n int) (*ticket, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closing {
		return nil, errShuttingDown
	}
	for {
		q := b.queued.Load()
		if q+int64(n) > b.maxQueue {
			return nil, errQueueFull
		}
		if b.queued.CompareAndSwap(q, q+int64(n)) {
			break
		}
	}
	b.met.depth.Add(float64(n))
	b.inflight.Add(1)
	return &ticket{b: b, n: n}, nil
}

// release gives back n queue places.
func (b *batcher) release(n int) {
	if n > 0 {
		b.queued.Add(-int64(n))
		b.met.depth.Sub(float64(n))
	}
}

// close stops admitting requests, makes the dispatcher run what is queued
// without waiting for max delay, and waits until every admitted request
// has been answered or ctx ends (returning ctx's error).
func (b *batcher) close(ctx context.Context) error {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	b.drainOnce.Do(func() { close(b.drain) })
	idle := make(chan struct{})
	go func() { b.inflight.Wait(); close(idle) }()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// abort makes every waiting request fail with errShuttingDown and cancels
// the engine call in progress (for engines that look at their context).
func (b *batcher) abort() { b.abortFn() }

// stop ends the dispatcher and the executor, after close (and abort, if
// close timed out), and waits for them.
func (b *batcher) stop() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	close(b.quit)
	b.stopped.Wait()
	b.abortFn()
}

// results are a request's outputs from the engine: logits [n, rowL] and,
// when their taps were asked for, embeddings [n, rowE] and attention
// rollout maps [n, rowA].
type results struct {
	logits, emb, att []float32
}

// run queues the ticket's images (pixels, already preprocessed) and waits
// for their results, with the taps asked for. When ctx ends first, the
// images not yet handed to a batch give back their places and ctx's error
// is returned (errShuttingDown after abort).
func (t *ticket) run(ctx context.Context, pixels []float32, taps deit.Tap) (results, error) {
	b := t.b
	if len(pixels) != t.n*b.per {
		return results{}, fmt.Errorf("server: batcher: %d pixel values for %d images", len(pixels), t.n)
	}
	j := &job{n: t.n, taps: taps, enq: time.Now(), pixels: pixels, done: make(chan struct{}),
		res: results{logits: make([]float32, t.n*b.rowL)}}
	if taps&deit.TapEmbeddings != 0 {
		j.res.emb = make([]float32, t.n*b.rowE)
	}
	if taps&deit.TapAttention != 0 {
		j.res.att = make([]float32, t.n*b.rowA)
	}
	j.left.Store(int64(t.n))
	t.j = j
	select {
	case b.in <- j:
	case <-ctx.Done():
		t.abandon()
		return results{}, t.ctxErr(ctx)
	case <-b.abortCtx.Done():
		t.abandon()
		return results{}, errShuttingDown
	}
	select {
	case <-j.done:
		j.mu.Lock()
		err := j.err
		j.mu.Unlock()
		if err != nil {
			return results{}, err
		}
		return j.res, nil
	case <-ctx.Done():
		t.abandon()
		return results{}, t.ctxErr(ctx)
	case <-b.abortCtx.Done():
		t.abandon()
		return results{}, errShuttingDown
	}
}

// ctxErr is ctx's error, or errShuttingDown when the batcher was aborted.
func (t *ticket) ctxErr(ctx context.Context) error {
	if t.b.abortCtx.Err() != nil {
		return errShuttingDown
	}
	return ctx.Err()
}

// abandon gives back the places of the job's images not yet handed out;
// the dispatcher skips the job from then on. Images already in a batch
// are computed, into buffers nobody reads.
func (t *ticket) abandon() {
	j := t.j
	j.mu.Lock()
	rest := j.n - j.next
	j.next, j.abandoned, j.pixels = j.n, true, nil
	j.mu.Unlock()
	t.b.release(rest)
}

// close ends the ticket: places never queued (the request failed before
// run) are given back, and close stops waiting for it.
func (t *ticket) close() {
	t.once.Do(func() {
		if t.j == nil {
			t.b.release(t.n)
		}
		t.b.inflight.Done()
	})
}

// dispatch is the dispatcher goroutine: it owns the queue.
func (b *batcher) dispatch() {
	defer b.stopped.Done()
	defer close(b.exec)
	var (
		queue []*job
		// free are the batch buffers the executor does not hold: one, and
		// on an engine that streams a second, allocated on first use.
		free     = [][]float32{make([]float32, 0, b.maxBatch*b.per)}
		draining bool
		drain    = b.drain
		timer    = time.NewTimer(time.Hour)
	)
	if b.streamer != nil {
		free = append(free, nil)
	}
	buffers := len(free)
	defer timer.Stop()
	// take takes in everything that has arrived, so that a batch holds all
	// it can.
	take := func() {
		for more := true; more; {
			select {
			case j := <-b.in:
				queue = append(queue, j)
			default:
				more = false
			}
		}
		queue = dropAbandoned(queue)
	}
	// formFrom forms a batch in a free buffer.
	formFrom := func() *batch {
		bt := b.form(&queue, free[len(free)-1])
		if bt != nil {
			free = free[:len(free)-1]
		}
		return bt
	}
	for {
		take()
		var wake <-chan time.Time
		if len(free) == buffers && len(queue) > 0 { // the executor is idle
			wait := b.maxDelay - time.Since(queue[0].enq)
			if draining || wait <= 0 || queuedImages(queue, b.maxBatch) >= b.maxBatch {
				if bt := formFrom(); bt != nil {
					b.exec <- bt // never blocks: the executor is idle (it gave every buffer back)
				}
				continue
			}
			timer.Reset(wait)
			wake = timer.C
		}
		select {
		case j := <-b.in:
			queue = append(queue, j)
		case buf := <-b.freed:
			free = append(free, buf)
		case <-b.want:
			// A stream's next batch: full, or none (partial batches wait
			// until the engine is free, as they would without streaming).
			take()
			var bt *batch
			if len(free) > 0 && queuedImages(queue, b.maxBatch) >= b.maxBatch {
				bt = formFrom()
			}
			b.wanted <- bt // never blocks: one answer per request
		case <-wake:
		case <-drain:
			draining, drain = true, nil
		case <-b.quit:
			return
		}
	}
}

// dropAbandoned removes abandoned jobs from the queue's head, so that the
// oldest live job decides the max-delay wait.
func dropAbandoned(queue []*job) []*job {
	for len(queue) > 0 {
		j := queue[0]
		j.mu.Lock()
		gone := j.abandoned
		j.mu.Unlock()
		if !gone {
			break
		}
		queue[0] = nil
		queue = queue[1:]
	}
	return queue
}

// queuedImages counts the images of live queued jobs, stopping at limit.
func queuedImages(queue []*job, limit int) int {
	n := 0
	for _, j := range queue {
		j.mu.Lock()
		if !j.abandoned {
			n += j.n - j.next
		}
		j.mu.Unlock()
		if n >= limit {
			break
		}
	}
	return n
}

// form takes up to maxBatch images from the queue's head into a batch
// (nil when every queued job was abandoned) and releases their places. A
// batch of one job's images uses that job's pixels directly; several are
// copied into buf.
func (b *batcher) form(queue *[]*job, buf []float32) *batch {
	bt := &batch{buf: buf}
	var views [][]float32
	q := *queue
	i := 0
	for i < len(q) && bt.n < b.maxBatch {
		j := q[i]
		j.mu.Lock()
		if j.abandoned {
			j.mu.Unlock()
			i++
			continue
		}
		k := min(j.n-j.next, b.maxBatch-bt.n)
		views = append(views, j.pixels[j.next*b.per:(j.next+k)*b.per])
		j.next += k
		last := j.next == j.n
		bt.segs = append(bt.segs, segment{j: j, from: j.next - k, n: k, lastPart: last})
		if last {
			j.pixels = nil
		}
		j.mu.Unlock()
		bt.n += k
		bt.taps |= j.taps
		if !last {
			break
		}
		i++
	}
	rest := copy(q, q[i:])
	clear(q[rest:])
	*queue = q[:rest]
	if bt.n == 0 {
		return nil
	}
	b.release(bt.n)
	now := time.Now()
	for _, s := range bt.segs {
		if s.lastPart {
			b.met.queue.Observe(now.Sub(s.j.enq).Seconds())
		}
	}
	if len(views) == 1 {
		bt.pixels = views[0]
	} else {
		bt.pixels = buf[:0]
		for _, v := range views {
			bt.pixels = append(bt.pixels, v...)
		}
		bt.buf = bt.pixels // a buffer allocated here goes back to the pool
	}
	return bt
}

// execute is the executor goroutine: one engine call per batch, or a
// stream of full batches on an engine that streams, then the rows go back
// to their jobs.
func (b *batcher) execute() {
	defer b.stopped.Done()
	for bt := range b.exec {
		for bt != nil {
			if b.streams(bt) {
				bt = b.stream(bt) // a batch the stream could not take, or nil
			} else {
				b.execOne(bt)
				bt = nil
			}
		}
	}
}

// streams reports whether bt may go through the engine's ForwardStream:
// the engine streams, bt is full (a stream's batches have one size) and
// asks for no taps (a stream delivers logits only).
func (b *batcher) streams(bt *batch) bool {
	return b.streamer != nil && bt.n == b.maxBatch && bt.taps == 0
}

// stream runs first, and every full batch the dispatcher has ready while
// the engine computes, through one ForwardStream, so that each batch's
// upload overlaps the previous batch's compute. It ends when no full batch
// is ready, returning a batch it was handed but cannot stream (taps) for
// the executor to run next. If the stream fails, the batches it had not
// finished run again one by one as execOne runs batches (each request
// alone when a batch of several fails).
func (b *batcher) stream(first *batch) (carry *batch) {
	var fifo []*batch // handed to the engine, not yet emitted
	next := func() ([]float32, error) {
		bt := first
		first = nil
		if bt == nil {
			if bt = b.more(); bt == nil {
				return nil, nil
			}
			if !b.streams(bt) {
				carry = bt
				return nil, nil
			}
		}
		bt.start = time.Now()
		fifo = append(fifo, bt)
		return bt.pixels, nil
	}
	emit := func(logits []float32) error {
		bt := fifo[0]
		if len(logits) != bt.n*b.rowL {
			return fmt.Errorf("server: engine %s returned %d logits for %d images of %d classes", b.eng.Name(), len(logits), bt.n, b.rowL)
		}
		fifo = fifo[1:]
		b.observe(bt.n, time.Since(bt.start))
		out := &engine.Output{Logits: logits}
		off := 0
		for _, s := range bt.segs {
			b.finish(s, out, off, nil)
			off += s.n
		}
		b.freed <- bt.buf[:0]
		return nil
	}
	if err := b.forwardStream(next, emit); err != nil {
		if first != nil { // the engine failed before taking it
			fifo = append([]*batch{first}, fifo...)
		}
		b.log.Warn("stream failed; running its batches again", "engine", b.eng.Name(), "batches", len(fifo), "err", err)
		for _, bt := range fifo {
			b.execOne(bt)
		}
	}
	return carry
}

// more asks the dispatcher for a full batch: nil when none is queued or
// the batcher stops.
func (b *batcher) more() *batch {
	select {
	case b.want <- struct{}{}:
		return <-b.wanted
	case <-b.quit:
		return nil
	}
}

// forwardStream runs the engine's ForwardStream, turning a panic into an
// error.
func (b *batcher) forwardStream(next func() ([]float32, error), emit func([]float32) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("engine panic", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("server: engine %s panicked in a stream of batches of %d: %v", b.eng.Name(), b.maxBatch, p)
		}
	}()
	return b.streamer.ForwardStream(b.abortCtx, b.maxBatch, next, emit)
}

// execOne runs one batch as one engine call. When a batch of several
// requests fails, each request's images run again alone, so that one
// request's failure (an input the engine refuses) fails that request only.
func (b *batcher) execOne(bt *batch) {
	out, err := b.run(bt.pixels, bt.n, bt.taps)
	if err != nil && len(bt.segs) > 1 {
		b.log.Warn("batch failed; running its requests one by one", "engine", b.eng.Name(), "batch", bt.n, "requests", len(bt.segs), "err", err)
		off := 0
		for _, s := range bt.segs {
			out, err := b.run(bt.pixels[off*b.per:(off+s.n)*b.per], s.n, bt.taps)
			b.finish(s, out, 0, err)
			off += s.n
		}
	} else {
		off := 0
		for _, s := range bt.segs {
			b.finish(s, out, off, err)
			off += s.n
		}
	}
	b.freed <- bt.buf[:0]
}

// run is one engine call on n images, recorded in the metrics.
func (b *batcher) run(pixels []float32, n int, taps deit.Tap) (out *engine.Output, err error) {
	t0 := time.Now()
	out, err = b.forward(pixels, n, taps)
	b.observe(n, time.Since(t0))
	return out, err
}

// observe records a batch of n images that the engine computed in d.
func (b *batcher) observe(n int, d time.Duration) {
	b.batches.Add(1)
	b.images.Add(int64(n))
	b.met.batches.Inc()
	b.met.images.Add(float64(n))
	b.met.batchSize.Observe(float64(n))
	b.met.compute.Observe(d.Seconds())
}

// finish hands a segment its rows, from image off of an engine call's
// output, or the call's error. Non-finite results fail the segment's
// request as the client's fault: its pixels were finite (the parsers
// check) but too large for the model.
func (b *batcher) finish(s segment, out *engine.Output, off int, err error) {
	j := s.j
	if err == nil {
		l := out.Logits[off*b.rowL : (off+s.n)*b.rowL]
		var e []float32
		if j.taps&deit.TapEmbeddings != 0 {
			e = out.Embeddings[off*b.rowE : (off+s.n)*b.rowE]
		}
		if i := firstNonFinite(l); i >= 0 {
			err = nonFiniteError(s.from + i/b.rowL)
		} else if i := firstNonFinite(e); i >= 0 {
			err = nonFiniteError(s.from + i/b.rowE)
		} else {
			copy(j.res.logits[s.from*b.rowL:(s.from+s.n)*b.rowL], l)
			if e != nil {
				copy(j.res.emb[s.from*b.rowE:(s.from+s.n)*b.rowE], e)
			}
			if j.taps&deit.TapAttention != 0 {
				for i := range s.n {
					if err = rolloutMaps(b.cfg, out.Attention, off+i, j.res.att[(s.from+i)*b.rowA:(s.from+i+1)*b.rowA]); err != nil {
						break
					}
				}
			}
		}
	} else if errors.Is(err, classify.ErrNonFinite) {
		err = errorf(kindBadRequest, "%w", err)
	} else if !errors.Is(err, context.Canceled) {
		b.log.Error("engine call failed", "engine", b.eng.Name(), "images", s.n, "err", err)
	}
	if err != nil {
		j.mu.Lock()
		if j.err == nil {
			j.err = err
		}
		j.mu.Unlock()
	}
	if j.left.Add(-int64(s.n)) == 0 {
		close(j.done)
	}
}

// nonFiniteError is the error of a request whose image i made the model
// compute NaN or ±Inf.
func nonFiniteError(i int) error {
	return errorf(kindBadRequest, "image %d: %w: its pixel values are finite but too large for the model", i, classify.ErrNonFinite)
}

// forward runs n images on the engine with taps, turning a panic into an
// error and checking the output sizes.
func (b *batcher) forward(pixels []float32, n int, taps deit.Tap) (out *engine.Output, err error) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("engine panic", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("server: engine %s panicked on a batch of %d: %v", b.eng.Name(), n, p)
		}
	}()
	out, err = b.eng.Run(b.abortCtx, pixels, n, taps)
	switch {
	case err != nil:
		return nil, fmt.Errorf("server: forward pass on %s (batch of %d): %w", b.eng.Name(), n, err)
	case len(out.Logits) != n*b.rowL:
		return nil, fmt.Errorf("server: engine %s returned %d logits for %d images of %d classes", b.eng.Name(), len(out.Logits), n, b.rowL)
	case taps&deit.TapEmbeddings != 0 && len(out.Embeddings) != n*b.rowE:
		return nil, fmt.Errorf("server: engine %s returned %d embedding values for %d images of %d", b.eng.Name(), len(out.Embeddings), n, b.rowE)
	case taps&deit.TapAttention != 0 && len(out.Attention) != b.cfg.Layers:
		return nil, fmt.Errorf("server: engine %s returned attention for %d layers of %d", b.eng.Name(), len(out.Attention), b.cfg.Layers)
	}
	return out, nil
}
