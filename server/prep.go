package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// prepPool decodes and preprocesses encoded images on a fixed set of
// worker goroutines, ahead of the engine, exactly as `vkdeit classify`
// does (deit.Model.Prepare), so that an image sent to the server gets the
// logits classify would print.
type prepPool struct {
	m     *deit.Model
	opts  imageio.DecodeOptions
	per   int
	log   *slog.Logger
	tasks chan prepTask
	quit  chan struct{} // closed by stop
	// stopping ends with stop: it cancels the decodes still running.
	stopping context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	n        int
}

// prepTask is one image of a prepare call.
type prepTask struct {
	ctx  context.Context
	name string
	data []byte
	dst  []float32 // this image's place in the request's pixels
	err  *error    // this image's error slot
	left *atomic.Int64
	done chan struct{}
}

func newPrepPool(m *deit.Model, opts imageio.DecodeOptions, workers int, log *slog.Logger) *prepPool {
	c := m.Config
	stopping, cancel := context.WithCancel(context.Background())
	return &prepPool{m: m, opts: opts, per: c.Channels * c.ImageSize * c.ImageSize, log: log,
		tasks: make(chan prepTask), quit: make(chan struct{}), stopping: stopping, cancel: cancel, n: workers}
}

// start launches the workers.
func (p *prepPool) start() {
	for range p.n {
		p.wg.Add(1)
		go p.work()
	}
}

// stop ends the workers: the images they are decoding are canceled (the
// server has answered or cut short every request by then, so nobody waits
// for them, and a large image must not hold up the exit), and prepare calls
// still waiting fail with errShuttingDown.
func (p *prepPool) stop() {
	p.cancel()
	close(p.quit)
	p.wg.Wait()
}

func (p *prepPool) work() {
	defer p.wg.Done()
	for {
		var t prepTask
		select {
		case t = <-p.tasks:
		case <-p.quit:
			return
		}
		if t.ctx.Err() == nil {
			*t.err = p.oneUntilStop(t)
		}
		if t.left.Add(-1) == 0 {
			close(t.done)
		}
	}
}

// oneUntilStop prepares t's image under its request's context, which also
// ends when the pool stops: libjpeg stops at the next row either way.
func (p *prepPool) oneUntilStop(t prepTask) error {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	defer context.AfterFunc(p.stopping, cancel)()
	return p.one(ctx, t.name, t.data, t.dst)
}

// one prepares a single image into dst, turning a decoder panic into an
// error. name is how errors refer to the image.
func (p *prepPool) one(ctx context.Context, name string, data []byte, dst []float32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("image decoder panic", "image", name, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s: the image decoder failed: %v", name, r)
		}
	}()
	if len(data) == 0 {
		return fmt.Errorf("%s: empty image", name)
	}
	px, err := classify.Prepare(ctx, p.m, classify.Input{Name: name, Data: data}, p.opts)
	if err != nil {
		return err
	}
	copy(dst, px)
	return nil
}

// prepare decodes and preprocesses images into dst (len(images) × the
// model's pixels per image) on the workers and waits for them. A bad
// image fails the call with an error naming it ("image 2: ..."); ctx
// ending returns ctx's error at once (workers skip images not started).
func (p *prepPool) prepare(ctx context.Context, images [][]byte, dst []float32) error {
	n := len(images)
	errs := make([]error, n)
	left := new(atomic.Int64)
	left.Store(int64(n))
	done := make(chan struct{})
	for i, data := range images {
		t := prepTask{ctx: ctx, name: fmt.Sprintf("image %d", i), data: data, dst: dst[i*p.per : (i+1)*p.per], err: &errs[i], left: left, done: done}
		select {
		case p.tasks <- t:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.quit:
			return errShuttingDown
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.quit:
		return errShuttingDown
	}
	for _, err := range errs {
		if err != nil {
			return errorf(kindBadRequest, "%w", err)
		}
	}
	return nil
}
