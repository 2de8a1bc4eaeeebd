package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
)

// Server serves DeiT models over the Open Inference Protocol (KServe
// v2): REST and gRPC, each model with its own dynamic batcher, plus
// /classify, Prometheus /metrics and Triton's model configuration,
// classification and model repository extensions. Build it with New, then
// call Run (or Serve with listeners of your own) once; it returns after
// graceful shutdown. An engine given to New stays the caller's: close it
// after Run returns; engines from Options.Repository are the server's.
type Server struct {
	opts Options
	log  *slog.Logger
	met  *metrics

	// mu guards models and failed; repoMu serializes loads and unloads.
	mu     sync.RWMutex
	models map[string]*model
	// failed holds why the last load of a model failed, by name, until it
	// loads.
	failed map[string]string
	repoMu sync.Mutex
	// initial is the model given to New, warmed up by Serve.
	initial *model

	// slots bounds inference requests in progress: REST ones once their
	// body is read, gRPC ones before their message is (each admitted one
	// holds a queue place too).
	slots chan struct{}
	// mem bounds the bytes requests hold (bodies, messages, tensors); see
	// memBudget.
	mem *memBudget
	// grpcRecv bounds gRPC messages being received at once (each up to
	// Options.MaxRequestBytes, before mem can charge it its real size).
	grpcRecv chan struct{}
	// pace is how fast REST bodies must arrive.
	pace bodyPace
	// drainCut is canceled when a drain runs out of time: body reads and
	// message receipts still going on end then.
	drainCut context.Context
	cutDrain context.CancelFunc
	// life is canceled when shutdown begins: loads and warm-ups end.
	life    context.Context
	endLife context.CancelFunc

	httpSrv *http.Server
	grpcSrv *grpc.Server
	health  *health.Server

	started  atomic.Bool
	serving  atomic.Bool // listening and not draining
	warm     atomic.Bool // the startup loads and warm-ups are done
	draining atomic.Bool
	// activeREST counts REST inference handlers until their answer is
	// written, so that a forced shutdown lets them finish writing.
	activeREST atomic.Int64

	addrMu    sync.Mutex
	httpAddr  net.Addr
	grpcAddr  net.Addr
	listening chan struct{} // closed once Serve has its listeners
}

// New returns a server for model m running on engine e (built for m, by
// engine.New for instance), served as Options.Name, configured by opts.
// m and e may both be nil when opts.Repository is set: the server then
// serves the repository's models only. New starts nothing: Serve listens
// first, then warms the model up and loads the repository's.
func New(m *deit.Model, e engine.Engine, opts Options) (*Server, error) {
	if (m == nil) != (e == nil) || (m == nil && opts.Repository == nil) {
		return nil, errors.New("server: nil model or engine")
	}
	opts, err := opts.withDefaults(e)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, listening: make(chan struct{}),
		models: map[string]*model{}, failed: map[string]string{},
		slots: make(chan struct{}, opts.MaxQueue), mem: &memBudget{limit: inflightFactor * opts.MaxRequestBytes},
		grpcRecv: make(chan struct{}, inflightFactor), pace: defaultPace}
	s.drainCut, s.cutDrain = context.WithCancel(context.Background())
	s.life, s.endLife = context.WithCancel(context.Background())
	s.met = newMetrics(opts.MaxBatch)
	if m != nil {
		md, err := s.newModel(opts.Name, m, e, false)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.models[md.name], s.initial = md, md
	}
	s.httpSrv = &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.ReadTimeout + opts.Timeout + 10*time.Second,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.grpcSrv = grpc.NewServer(
		grpc.MaxRecvMsgSize(int(opts.MaxRequestBytes)),
		grpc.MaxConcurrentStreams(maxStreams),
		// A stream buffers at most this much before its handler reads it
		// (the window opens to a whole message once it does); a static
		// window also keeps BDP estimation from growing it.
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		grpc.ForceServerCodecV2(newGRPCCodec()),
		grpc.ConnectionTimeout(opts.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: opts.IdleTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.grpcRecover),
	)
	s.grpcSrv.RegisterService(s.grpcServiceDesc(), &grpcService{s: s})
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpcSrv, s.health)
	reflection.Register(s.grpcSrv)
	return s, nil
}

// maxStreams bounds concurrent gRPC calls per connection; a client
// wanting more opens more connections or waits.
const maxStreams = 32

// streamWindow and connWindow are gRPC's flow-control windows: per stream,
// what a client may send before the server reads; per connection, what may
// be in flight over all its streams.
const (
	streamWindow = 64 << 10
	connWindow   = 4 << 20
)

// enter takes a slot for one inference request, or refuses it at once
// when Options.MaxQueue requests are in progress; leave gives it back.
func (s *Server) enter() (leave func(), err error) {
	if s.draining.Load() {
		return nil, errShuttingDown
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	default:
		return nil, errorf(kindQueueFull, "%d requests are in progress, the server's limit; retry later", cap(s.slots))
	}
}

// DrainTimeout is how long graceful shutdown may take (Options.DrainTimeout
// with its default applied).
func (s *Server) DrainTimeout() time.Duration { return s.opts.DrainTimeout }

// Name is the name of the model given to New (Options.Name).
func (s *Server) Name() string { return s.opts.Name }

// Ready reports whether the server is ready for inference: listening, not
// shutting down, and every model loaded so far warm (each batch size its
// batcher forms has run once; see Options.SkipWarmup).
func (s *Server) Ready() bool {
	if !s.serving.Load() || !s.warm.Load() {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, md := range s.models {
		if !md.ready() {
			return false
		}
	}
	return true
}

// Addrs are the addresses Serve listens on (nil for a disabled protocol),
// once it has started; ok is false before.
func (s *Server) Addrs() (httpAddr, grpcAddr net.Addr, ok bool) {
	select {
	case <-s.listening:
	default:
		return nil, nil, false
	}
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.httpAddr, s.grpcAddr, true
}

// Run listens on Options.HTTPAddr and GRPCAddr and serves until ctx ends,
// then shuts down gracefully (see Serve).
func (s *Server) Run(ctx context.Context) error {
	var hl, gl net.Listener
	var err error
	if s.opts.HTTPAddr != Off {
		if hl, err = net.Listen("tcp", s.opts.HTTPAddr); err != nil {
			return fmt.Errorf("server: http: %w", err)
		}
	}
	if s.opts.GRPCAddr != Off {
		if gl, err = net.Listen("tcp", s.opts.GRPCAddr); err != nil {
			if hl != nil {
				hl.Close()
			}
			return fmt.Errorf("server: grpc: %w", err)
		}
	}
	return s.Serve(ctx, hl, gl)
}

// ErrDrainCutShort is wrapped by Serve's (and Run's) error when graceful
// shutdown ran past Options.DrainTimeout and cut the requests still in
// progress short (each answered 503 / UNAVAILABLE where it still could
// be). The server has stopped all the same: it is a note for the logs,
// not a failure of the server.
var ErrDrainCutShort = errors.New("drain cut short")

// Serve serves HTTP/REST on hl and gRPC on gl (either may be nil, not
// both) until ctx ends or a listener fails, then shuts down gracefully.
// Once listening it is live; it warms up the model given to New and loads
// (and warms up) every model of Options.Repository, and only then turns
// ready; a model failing to load or warm up ends Serve with its error.
// Shutdown goes:
// readiness turns false, new requests get 503 / UNAVAILABLE, every
// request already accepted is answered, the listeners close, and Serve
// returns nil — or, past Options.DrainTimeout, cuts the rest short (body
// reads and image decoding included) and returns an error wrapping
// ErrDrainCutShort alone. A listener's failure is returned instead. It
// may be called once.
func (s *Server) Serve(ctx context.Context, hl, gl net.Listener) error {
	if hl == nil && gl == nil {
		return errors.New("server: no listener")
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("server: Serve called twice")
	}
	errc := make(chan error, 3)
	s.addrMu.Lock()
	if hl != nil {
		s.httpAddr = hl.Addr()
		go func() {
			if err := s.httpSrv.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("server: http: %w", err)
			}
		}()
	}
	if gl != nil {
		s.grpcAddr = gl.Addr()
		go func() {
			if err := s.grpcSrv.Serve(gl); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("server: grpc: %w", err)
			}
		}()
	}
	s.addrMu.Unlock()
	close(s.listening)
	s.serving.Store(true)
	s.log.Info("listening", "http", addrString(hl), "grpc", addrString(gl), "max_batch", s.opts.MaxBatch,
		"max_delay_s", s.opts.MaxDelay.Seconds(), "max_queue", s.opts.MaxQueue, "workers", s.opts.Workers,
		"max_request_bytes", s.opts.MaxRequestBytes)
	go func() {
		if err := s.startup(s.life); err != nil {
			errc <- err
		}
	}()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		s.log.Error("shutting down", "err", serveErr)
	}
	err := s.shutdown(hl != nil, gl != nil)
	if serveErr != nil {
		return serveErr // the drain's own outcome is in the logs
	}
	return err
}

// startup warms up the model given to New and loads every model of the
// repository, then turns the server ready.
func (s *Server) startup(ctx context.Context) error {
	t0 := time.Now()
	if md := s.initial; md != nil {
		if err := s.warmStart(ctx, md); err != nil {
			return fmt.Errorf("server: model %s: %w", md.name, err)
		}
	}
	if r := s.opts.Repository; r != nil {
		names, err := r.Models()
		if err != nil {
			return fmt.Errorf("server: model repository: %w", err)
		}
		for _, name := range names {
			if err := s.load(ctx, name); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return nil // shutting down
	}
	s.warm.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.log.Info("ready", "models", s.modelNames(), "took_s", time.Since(t0).Seconds())
	return nil
}

// warmStart starts a model's goroutines and warms it up (unless
// Options.SkipWarmup); the model turns ready.
func (s *Server) warmStart(ctx context.Context, md *model) error {
	md.start()
	if !s.opts.SkipWarmup {
		d, err := md.warm(ctx)
		if err != nil {
			return err
		}
		s.log.Info("model warm", "model", md.name, "batch_sizes", md.maxBatch, "engine", md.eng.Name(), "took_s", d.Seconds())
	}
	md.state.Store(stateReady)
	return nil
}

// modelNames are the models loaded, sorted.
func (s *Server) modelNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.models))
	for n := range s.models {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// allModels are the models loaded.
func (s *Server) allModels() []*model {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*model, 0, len(s.models))
	for _, md := range s.models {
		out = append(out, md)
	}
	return out
}

// shutdown drains and stops everything Serve started (see Serve).
func (s *Server) shutdown(useHTTP, useGRPC bool) error {
	t0 := time.Now()
	s.mu.Lock()
	s.draining.Store(true) // under mu: no model is added after this
	s.mu.Unlock()
	s.endLife()
	s.serving.Store(false)
	s.health.Shutdown()
	s.repoMu.Lock() // a load or unload in progress ends first
	defer s.repoMu.Unlock()
	models := s.allModels()
	s.log.Info("shutting down", "drain_timeout_s", s.opts.DrainTimeout.Seconds(), "queued_images", modelsQueued(models))
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
	defer cancel()

	var wg sync.WaitGroup
	httpDone, grpcDone := make(chan struct{}), make(chan struct{})
	wg.Go(func() {
		defer close(httpDone)
		if useHTTP {
			s.httpSrv.Shutdown(ctx) // its error is ctx's, handled below
		}
	})
	wg.Go(func() {
		defer close(grpcDone)
		if useGRPC {
			s.grpcSrv.GracefulStop()
		}
	})
	drained := closeBatchers(ctx, models) == nil
	if drained {
		// Every request is answered; the servers finish writing them.
		select {
		case <-httpDone:
		case <-ctx.Done():
		}
		select {
		case <-grpcDone:
		case <-ctx.Done():
		}
	}
	var err error
	if ctx.Err() != nil {
		// Past the drain timeout: fail what is left (503 / UNAVAILABLE),
		// body reads and decodes included, give the handlers a moment to
		// write that, then cut connections.
		n := modelsQueued(models)
		s.cutDrain()
		for _, md := range models {
			md.b.abort()
		}
		grace, cancel := context.WithTimeout(context.Background(), time.Second)
		if closeBatchers(grace, models) == nil {
			for s.activeREST.Load() > 0 && grace.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case <-grpcDone:
			case <-grace.Done():
			}
		}
		cancel()
		s.httpSrv.Close()
		s.grpcSrv.Stop()
		err = fmt.Errorf("server: %w: requests still running after the %v drain timeout were cut short (%d images queued)", ErrDrainCutShort, s.opts.DrainTimeout, n)
	}
	wg.Wait()
	for _, md := range models {
		md.b.stop()
	}
	if !stopPrep(models, time.Second) {
		err = fmt.Errorf("server: %w: an image decoder was still running %v after the drain", ErrDrainCutShort, time.Second)
	}
	for _, md := range models {
		if md.owned {
			if cerr := md.eng.Close(); cerr != nil {
				s.log.Warn("closing an engine failed", "model", md.name, "err", cerr)
			}
		}
	}
	s.cutDrain()
	if err != nil {
		s.log.Warn("stopped; drain cut short", "took_s", time.Since(t0).Seconds(), "err", err)
	} else {
		s.log.Info("stopped", "took_s", time.Since(t0).Seconds(), "clean", true)
	}
	return err
}

// modelsQueued counts the images admitted to the models' queues and not
// yet handed to an engine.
func modelsQueued(models []*model) int64 {
	var n int64
	for _, md := range models {
		n += md.b.queued.Load()
	}
	return n
}

// closeBatchers closes every model's batcher and waits until each has
// answered its requests or ctx ends (returning ctx's error).
func closeBatchers(ctx context.Context, models []*model) error {
	var wg sync.WaitGroup
	errs := make([]error, len(models))
	for i, md := range models {
		wg.Go(func() { errs[i] = md.b.close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stopPrep stops the models' image decoders, waiting for the images in
// progress at most grace (they were canceled when the drain ran out); it
// reports whether they all ended. A decoder that ignores its context is
// left to finish on its own: the process is about to end anyway.
func stopPrep(models []*model, grace time.Duration) bool {
	done := make(chan struct{})
	go func() {
		for _, md := range models {
			md.prep.stop()
		}
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(grace):
		return false
	}
}

// addrString is a listener's address for logs, or "off".
func addrString(l net.Listener) string {
	if l == nil {
		return Off
	}
	return l.Addr().String()
}
