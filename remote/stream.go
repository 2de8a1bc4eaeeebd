package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/regfile"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// task is one input on its way through the endpoints.
type task struct {
	idx      int
	in       classify.Input
	attempts int
	lastErr  error
}

// Window is how many inputs Stream holds at once per request in flight
// (all endpoints together): the bound of its reorder buffer. Inputs are
// read from the sequence only as earlier results are delivered, and an
// input's file is read (and decoded, for pixels) only by the request that
// sends it, so Stream holds at most Window × InFlight × endpoints inputs
// and results, and InFlight × endpoints files or pixel tensors.
const Window = 4

// Stream sends every input of the sequence to the endpoints and calls fn
// with each result in input order (Result.Index counts the sequence from
// 0), as classify.Classifier.Stream does: per-input failures are in
// Result.Err, Forward is the request's round trip and BatchSize 1;
// opts.TopK ranks the logits with Options.Labels, opts.Embeddings also
// asks for the embedding outputs, opts.Workers bounds the files read and
// images decoded at once here, and opts.Decode applies to images decoded
// here (pixels) and to the size of files sent. An error from fn, ctx, a
// request that exhausted its attempts or endpoints all gone stop
// everything: the results delivered before stand, none is delivered
// twice.
func (c *Client) Stream(ctx context.Context, inputs iter.Seq[classify.Input], opts classify.Options, fn func(classify.Result) error) error {
	sig := c.sig
	if opts.TopK <= 0 {
		opts.TopK = 5
	}
	if opts.Workers <= 0 {
		opts.Workers = len(c.eps) * c.opts.InFlight
	}
	if opts.Embeddings && sig.Embedding == "" {
		return fmt.Errorf("remote: model %q has no %s output: the servers cannot make embeddings", sig.Model, outputEmbedding)
	}
	if !opts.Embeddings && sig.Logits == "" {
		return fmt.Errorf("remote: model %q has no logits output to rank", sig.Model)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s := &stream{c: c, sig: sig, opts: opts, ctx: ctx, cancel: cancel,
		work:    make(chan *task),
		retry:   make(chan *task, Window*len(c.eps)*c.opts.InFlight),
		results: make(chan classify.Result, Window*len(c.eps)*c.opts.InFlight),
		window:  make(chan struct{}, Window*len(c.eps)*c.opts.InFlight),
		decode:  make(chan struct{}, opts.Workers),
		outputs: sig.wantOutputs(opts.Embeddings),
		model:   &deit.Model{Config: deit.Config{Channels: sig.Channels, ImageSize: sig.Size}, Preprocessor: c.opts.Preprocessor},
	}
	s.alive.Store(time.Now())

	var wg sync.WaitGroup
	total := make(chan int, 1)
	wg.Go(func() { total <- s.dispatch(inputs) })
	for _, ep := range c.eps {
		for range c.opts.InFlight {
			wg.Go(func() { s.worker(ep) })
		}
	}
	wg.Go(s.watch)
	err := s.deliver(total, fn)
	cancel(err)
	wg.Wait()
	if err != nil {
		return err
	}
	return nil
}

// stream is one Stream call's state.
type stream struct {
	c       *Client
	sig     *Signature
	opts    classify.Options
	ctx     context.Context
	cancel  context.CancelCauseFunc
	work    chan *task // new inputs
	retry   chan *task // inputs to send again (first served)
	results chan classify.Result
	window  chan struct{} // one token per input between dispatch and delivery
	decode  chan struct{} // one token per file read or image decoded here
	outputs []string
	model   *deit.Model // the input size and preprocessing, for classify.Prepare
	alive   atomicTime  // last time an endpoint was up
}

// errDone ends the workers once every result is delivered.
var errDone = errors.New("done")

// dispatch feeds the inputs to the workers as the window allows and
// returns how many there were (-1 when stopped early).
func (s *stream) dispatch(inputs iter.Seq[classify.Input]) int {
	n := 0
	for in := range inputs {
		select {
		case s.window <- struct{}{}:
		case <-s.ctx.Done():
			return -1
		}
		select {
		case s.work <- &task{idx: n, in: in}:
		case <-s.ctx.Done():
			return -1
		}
		n++
	}
	return n
}

// deliver calls fn with the results in input order until all total of
// them are delivered.
func (s *stream) deliver(total <-chan int, fn func(classify.Result) error) error {
	pending := map[int]classify.Result{}
	next, n := 0, -1
	for n < 0 || next < n {
		select {
		case r := <-s.results:
			pending[r.Index] = r
			for {
				r, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				if err := fn(r); err != nil {
					return err
				}
				next++
				<-s.window
			}
		case n = <-total:
			if n < 0 {
				return context.Cause(s.ctx)
			}
		case <-s.ctx.Done():
			return context.Cause(s.ctx)
		}
	}
	s.cancel(errDone)
	return nil
}

// watch ends the stream when no endpoint has been up for GiveUp, or every
// endpoint is disabled.
func (s *stream) watch() {
	tick := time.NewTicker(min(s.c.opts.GiveUp/10, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		var why []error
		disabled := 0
		for _, ep := range s.c.eps {
			up, dis := ep.state()
			if up {
				s.alive.Store(time.Now())
				why = nil
				break
			}
			if dis != nil {
				disabled++
				why = append(why, dis)
				continue
			}
			ep.mu.Lock()
			why = append(why, fmt.Errorf("%s: %w", ep.name(), ep.lastErr))
			ep.mu.Unlock()
		}
		switch {
		case why == nil:
		case disabled == len(s.c.eps):
			s.cancel(fmt.Errorf("remote: no server left: %w", errors.Join(why...)))
		case time.Since(s.alive.Load()) > s.c.opts.GiveUp:
			s.cancel(fmt.Errorf("remote: no server has taken requests for %v: %w", s.c.opts.GiveUp, errors.Join(why...)))
		}
	}
}

// worker sends tasks to one endpoint, one at a time, while it is up.
func (s *stream) worker(ep *endpoint) {
	for {
		if err := ep.waitUp(s.ctx, s.c); err != nil {
			return
		}
		var t *task
		select {
		case t = <-s.retry:
		default:
			select {
			case t = <-s.retry:
			case t = <-s.work:
			case <-s.ctx.Done():
				return
			}
		}
		s.send(ep, t)
	}
}

// send makes one attempt of t on ep and routes the outcome: a result, a
// retry now (elsewhere) or after a backoff, or the end of the stream.
func (s *stream) send(ep *endpoint, t *task) {
	req, prep, err := s.prepare(t.in)
	if err != nil {
		s.result(classify.Result{Index: t.idx, Name: name(t.in), Err: err})
		return
	}
	actx, cancel := context.WithTimeout(s.ctx, s.c.opts.Timeout)
	start := time.Now()
	out, err := ep.proto.infer(actx, req)
	rtt := time.Since(start)
	cancel()
	if s.ctx.Err() != nil {
		return
	}
	if err == nil {
		s.alive.Store(time.Now())
		r, err := s.resultOf(t, out)
		if err != nil {
			s.cancel(fmt.Errorf("remote: server %s: %s: %w", ep.name(), name(t.in), err))
			return
		}
		r.Preprocess, r.Forward = prep, rtt
		s.result(r)
		return
	}
	kind := kindOf(err)
	if errors.Is(err, context.DeadlineExceeded) {
		kind = failBusy
	}
	err = fmt.Errorf("server %s: %w", ep.name(), err)
	switch kind {
	case failImage:
		s.result(classify.Result{Index: t.idx, Name: name(t.in), Err: fmt.Errorf("%s: %w", name(t.in), err)})
		return
	case failFatal:
		s.cancel(fmt.Errorf("remote: %s: %w", name(t.in), err))
		return
	}
	t.attempts++
	t.lastErr = err
	if t.attempts >= s.c.opts.Attempts {
		s.cancel(fmt.Errorf("remote: %s: gave up after %d attempts: %w", name(t.in), t.attempts, err))
		return
	}
	if kind == failDown {
		if ep.markDown(err) {
			s.c.logf("%v; its requests go to the other servers", err)
		}
		s.retry <- t // at once, to an endpoint that is up
		return
	}
	d := min(s.c.opts.Backoff<<min(t.attempts-1, 20), s.c.opts.MaxBackoff)
	time.AfterFunc(d, func() { s.retry <- t }) // never blocks: it holds a window token
}

// result hands a result to deliver; it never blocks for long, as results
// is as large as the window.
func (s *stream) result(r classify.Result) {
	select {
	case s.results <- r:
	case <-s.ctx.Done():
	}
}

// prepare reads (and for pixel inputs decodes and preprocesses) one input
// into a request, holding a decode token meanwhile.
func (s *stream) prepare(in classify.Input) (*inferRequest, time.Duration, error) {
	select {
	case s.decode <- struct{}{}:
	case <-s.ctx.Done():
		return nil, 0, context.Cause(s.ctx)
	}
	defer func() { <-s.decode }()
	start := time.Now()
	req := &inferRequest{input: s.sig.Input, outputs: s.outputs}
	if s.sig.Encoded {
		data, err := s.encoded(in)
		if err != nil {
			return nil, 0, err
		}
		req.encoded, req.shape = data, []int64{1}
		return req, time.Since(start), nil
	}
	px, err := classify.Prepare(s.ctx, s.model, in, s.opts.Decode)
	if err != nil {
		return nil, 0, err
	}
	req.pixels = px
	req.shape = []int64{int64(s.sig.Channels), int64(s.sig.Size), int64(s.sig.Size)}
	if s.sig.batched {
		req.shape = append([]int64{1}, req.shape...)
	}
	return req, time.Since(start), nil
}

// encoded is an input's image file, read as imageio reads one (a regular
// file, a known format, at most Decode.MaxBytes).
func (s *stream) encoded(in classify.Input) ([]byte, error) {
	switch {
	case in.Data != nil:
		data, err := imageio.ReadEncoded(bytesReader(in.Data), s.opts.Decode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name(in), err)
		}
		return data, nil
	case in.Path != "":
		f, _, err := regfile.Open(in.Path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: %w", name(in), err)
		}
		defer f.Close()
		data, err := imageio.ReadEncoded(f, s.opts.Decode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name(in), err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("%s: the servers take image files; decoded images and pixels need servers that take pixels", name(in))
}

// resultOf checks one answer and makes its result.
func (s *stream) resultOf(t *task, out map[string][]float32) (classify.Result, error) {
	r := classify.Result{Index: t.idx, Name: name(t.in), BatchSize: 1}
	get := func(n string, width int) ([]float32, error) {
		v, ok := out[n]
		switch {
		case !ok:
			return nil, fmt.Errorf("the answer has no output %s", n)
		case width > 0 && len(v) != width, len(v) == 0:
			return nil, fmt.Errorf("output %s has %d values for one image, want %d", n, len(v), width)
		}
		return v, nil
	}
	var err error
	if s.sig.Logits != "" {
		if r.Logits, err = get(s.sig.Logits, s.sig.NumLabels); err != nil {
			return r, err
		}
		r.Top, err = classify.TopK(r.Logits, s.opts.TopK, s.c.opts.Labels)
		if err != nil {
			r.Err, r.Logits, r.Top = fmt.Errorf("%s: %w", name(t.in), err), nil, nil
			return r, nil
		}
	}
	if s.opts.Embeddings {
		if r.Embedding, err = get(s.sig.Embedding, s.sig.Hidden); err != nil {
			return r, err
		}
		if s.sig.DistillationEmbedding != "" {
			if r.DistillationEmbedding, err = get(s.sig.DistillationEmbedding, s.sig.Hidden); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// name is how results name an input, as classify does.
func name(in classify.Input) string {
	if in.Name != "" {
		return in.Name
	}
	if in.Path != "" {
		return in.Path
	}
	return "image"
}

// atomicTime is a time.Time read and written from several goroutines.
type atomicTime struct{ ns atomic.Int64 }

func (a *atomicTime) Store(t time.Time) { a.ns.Store(t.UnixNano()) }
func (a *atomicTime) Load() time.Time   { return time.Unix(0, a.ns.Load()) }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
