package server

import (
	"context"
	"errors"
	"time"
)

// infer runs one decoded request through preprocessing and the batcher,
// for either protocol: admission (a full queue answers at once), then
// decoding of image inputs on the worker pool, then the engine, all
// within Options.Timeout and the client's own deadline.
func (s *Server) infer(ctx context.Context, req *request) (logits, emb []float32, err error) {
	if s.draining.Load() {
		return nil, nil, errShuttingDown
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// Abort (a shutdown past its drain timeout) ends every request.
	defer context.AfterFunc(s.b.abortCtx, cancel)()

	t, err := s.b.admit(req.n)
	if err != nil {
		return nil, nil, err
	}
	defer t.close()
	pixels := req.pixels
	if req.images != nil {
		t0 := time.Now()
		pixels = make([]float32, s.pixelCount(req.n))
		if err := s.prep.prepare(ctx, req.images, pixels); err != nil {
			return nil, nil, s.ctxErr(err)
		}
		s.met.preprocess.Observe(time.Since(t0).Seconds())
	}
	logits, emb, err = t.run(ctx, pixels, req.wantsEmbeddings())
	return logits, emb, s.ctxErr(err)
}

// ctxErr turns a context error caused by abort into errShuttingDown.
func (s *Server) ctxErr(err error) error {
	if err != nil && s.b.abortCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return errShuttingDown
	}
	return err
}
