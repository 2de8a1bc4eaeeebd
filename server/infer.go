package server

import (
	"context"
	"errors"
	"time"
)

// lookup finds the model a request names (and its version, when given):
// an unknown or unloaded name is NOT_FOUND, naming the models served.
func (s *Server) lookup(name, version string) (*model, error) {
	s.mu.RLock()
	md, ok := s.models[name]
	s.mu.RUnlock()
	if !ok {
		return nil, errorf(kindNotFound, "unknown model %s; this server serves %s", quote(name), quoteList(s.modelNames()))
	}
	if version != "" && version != md.version {
		return nil, errorf(kindNotFound, "model %q has no version %s; it has version %q", name, quote(version), md.version)
	}
	return md, nil
}

// lookupReady is lookup for an inference request: the model must also be
// ready (warm, not being unloaded).
func (s *Server) lookupReady(name, version string) (*model, error) {
	md, err := s.lookup(name, version)
	if err != nil {
		return nil, err
	}
	if !md.ready() {
		return nil, errorf(kindUnavailable, "model %q is %s; retry when it is ready", md.name, stateWords[md.state.Load()])
	}
	return md, nil
}

// stateWords say a model state in an error.
var stateWords = map[int32]string{stateLoading: "loading (warming up)", stateReady: "ready", stateUnloading: "being unloaded"}

// infer runs one decoded request for model md through preprocessing and
// md's batcher, for either protocol: admission (a full queue answers at
// once), then decoding of image inputs on the model's decoders, then the
// engine, all within Options.Timeout and the client's own deadline.
func (s *Server) infer(ctx context.Context, md *model, req *request) (res results, err error) {
	if s.draining.Load() {
		return results{}, errShuttingDown
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// Abort (a shutdown past its drain timeout) ends every request.
	defer context.AfterFunc(md.b.abortCtx, cancel)()

	t, err := md.b.admit(req.n)
	if err != nil {
		return results{}, err
	}
	defer t.close()
	pixels := req.pixels
	if req.images != nil {
		t0 := time.Now()
		pixels = make([]float32, md.pixelCount(req.n))
		if err := md.prep.prepare(ctx, req.images, pixels); err != nil {
			return results{}, ctxErr(md, err)
		}
		md.met.preprocess.Observe(time.Since(t0).Seconds())
	}
	res, err = t.run(ctx, pixels, req.taps())
	return res, ctxErr(md, err)
}

// ctxErr turns a context error caused by abort into errShuttingDown.
func ctxErr(md *model, err error) error {
	if err != nil && md.b.abortCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return errShuttingDown
	}
	return err
}
