package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
)

// Repository is a model repository: models the server can load by name,
// as Triton and KServe lay them out (a directory of model directories;
// `vkdeit serve --model-repository DIR` implements it). A server with a
// repository loads every model of it when it starts, and loads and unloads
// them on request (Triton's model repository extension).
type Repository interface {
	// Models lists the names of the repository's models, sorted.
	Models() ([]string, error)
	// Load reads model name and builds an engine for it, for batches of up
	// to maxBatch images. The server closes the engine when it unloads
	// the model or stops.
	Load(ctx context.Context, name string, maxBatch int) (*deit.Model, engine.Engine, error)
}

// repoEntry is one line of the repository index.
type repoEntry struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
}

// index lists the repository's models and those loaded, sorted by name:
// READY, LOADING or UNLOADING for a loaded model, UNAVAILABLE (with the
// reason) for one whose last load failed, and an empty state for one not
// loaded. readyOnly keeps the READY ones.
func (s *Server) index(readyOnly bool) ([]repoEntry, error) {
	var names []string
	if r := s.opts.Repository; r != nil {
		var err error
		if names, err = r.Models(); err != nil {
			return nil, errorf(kindInternal, "model repository: %v", err)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for n := range s.models {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]repoEntry, 0, len(names))
	for _, n := range names {
		e := repoEntry{Name: n}
		switch md, ok := s.models[n]; {
		case ok:
			e.Version, e.State = md.version, stateNames[md.state.Load()]
		case s.failed[n] != "":
			e.State, e.Reason = "UNAVAILABLE", s.failed[n]
		}
		if !readyOnly || e.State == "READY" {
			out = append(out, e)
		}
	}
	return out, nil
}

// load loads model name from the repository, warms it up and serves it;
// a model of that name already loaded is replaced once the new one is
// ready (its requests in progress finish on it). Loads and unloads run one
// at a time.
func (s *Server) load(ctx context.Context, name string) error {
	r := s.opts.Repository
	if r == nil {
		return errorf(kindBadRequest, "this server has no model repository to load %s from", quote(name))
	}
	names, err := r.Models()
	if err != nil {
		return errorf(kindInternal, "model repository: %v", err)
	}
	if !slices.Contains(names, name) {
		return errorf(kindNotFound, "the model repository has no model %s; it has %s", quote(name), quoteList(names))
	}
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	if s.draining.Load() {
		return errShuttingDown
	}
	t0 := time.Now()
	s.log.Info("loading model", "model", name)
	md, err := s.loadModel(ctx, r, name)
	if err != nil {
		s.mu.Lock()
		s.failed[name] = err.Error()
		s.mu.Unlock()
		s.log.Error("loading a model failed", "model", name, "err", err)
		return errorf(kindInternal, "loading model %s: %v", quote(name), err)
	}
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		md.stop(context.Background())
		return errShuttingDown
	}
	old := s.models[name]
	s.models[name] = md
	delete(s.failed, name)
	s.mu.Unlock()
	s.log.Info("model ready", "model", name, "engine", md.eng.Name(), "precision", md.eng.Arithmetic(),
		"max_batch", md.maxBatch, "took_s", time.Since(t0).Seconds())
	if old != nil {
		s.retire(old)
	}
	return nil
}

// loadModel builds, starts and warms up model name.
func (s *Server) loadModel(ctx context.Context, r Repository, name string) (*model, error) {
	m, e, err := r.Load(ctx, name, s.opts.MaxBatch)
	if err != nil {
		return nil, err
	}
	md, err := s.newModel(name, m, e, true)
	if err != nil {
		e.Close()
		return nil, err
	}
	if err := s.warmStart(ctx, md); err != nil {
		md.stop(context.Background())
		return nil, err
	}
	return md, nil
}

// unload stops serving model name: new requests for it get 404 at once,
// those in progress are answered (within Options.DrainTimeout), then its
// engine is closed if the server loaded it.
func (s *Server) unload(name string) error {
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	s.mu.Lock()
	md, ok := s.models[name]
	if ok {
		delete(s.models, name)
	}
	s.mu.Unlock()
	if !ok {
		return errorf(kindNotFound, "model %s is not loaded; loaded: %s", quote(name), quoteList(s.modelNames()))
	}
	s.log.Info("unloading model", "model", name)
	<-s.retire(md)
	return nil
}

// retire drains a model no longer in s.models and stops it, in the
// background; the returned channel closes when it has.
func (s *Server) retire(md *model) <-chan struct{} {
	md.state.Store(stateUnloading)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
		defer cancel()
		if err := md.stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("unloading a model", "model", md.name, "err", err)
		}
		s.log.Info("model unloaded", "model", md.name, "took_s", time.Since(t0).Seconds())
	}()
	return done
}

// quoteList writes names as "a", "b" (or "none").
func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
