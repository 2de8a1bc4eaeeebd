package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

// Server serves one DeiT model over the Open Inference Protocol (KServe
// v2): REST and gRPC, sharing one dynamic batcher, plus /classify and
// Prometheus /metrics on the HTTP port. Build it with New, then call Run
// (or Serve with listeners of your own) once; it returns after graceful
// shutdown. The engine stays the caller's: close it after Run returns.
type Server struct {
	m    *deit.Model
	eng  engine.Engine
	cfg  deit.Config
	opts Options
	log  *slog.Logger

	met  *metrics
	b    *batcher
	prep *prepPool
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

	httpSrv *http.Server
	grpcSrv *grpc.Server
	health  *health.Server

	started  atomic.Bool
	ready    atomic.Bool // listening and not draining
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
// engine.New for instance), configured by opts. It starts nothing.
func New(m *deit.Model, e engine.Engine, opts Options) (*Server, error) {
	if m == nil || e == nil {
		return nil, errors.New("server: nil model or engine")
	}
	cfg := m.Config
	if ec := e.Config(); ec.Hidden != cfg.Hidden || ec.NumLabels != cfg.NumLabels || ec.ImageSize != cfg.ImageSize ||
		ec.Channels != cfg.Channels || ec.HeadTokens() != cfg.HeadTokens() {
		return nil, errors.New("server: the engine was built for another model")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server: model config: %w", err)
	}
	opts, err := opts.withDefaults(e)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{m: m, eng: e, cfg: cfg, opts: opts, log: opts.Logger, listening: make(chan struct{}),
		slots: make(chan struct{}, opts.MaxQueue), mem: &memBudget{limit: inflightFactor * opts.MaxRequestBytes},
		grpcRecv: make(chan struct{}, inflightFactor), pace: defaultPace}
	s.drainCut, s.cutDrain = context.WithCancel(context.Background())
	s.met = newMetrics(opts.MaxBatch)
	s.b = newBatcher(e, cfg, opts.MaxBatch, opts.MaxDelay, opts.MaxQueue, s.met, s.log)
	s.prep = newPrepPool(m, opts.Decode, opts.Workers, s.log)
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

// Name is the model name the server answers to.
func (s *Server) Name() string { return s.opts.Name }

// Ready reports whether the server is listening and not shutting down.
func (s *Server) Ready() bool { return s.ready.Load() }

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
// both) until ctx ends or a listener fails, then shuts down gracefully:
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
	s.b.start()
	s.prep.start()
	errc := make(chan error, 2)
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
	s.ready.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.log.Info("serving", "model", s.opts.Name, "version", s.opts.Version, "engine", s.eng.Name(),
		"http", addrString(hl), "grpc", addrString(gl), "max_batch", s.opts.MaxBatch, "max_delay", s.opts.MaxDelay,
		"max_queue", s.opts.MaxQueue, "workers", s.opts.Workers, "max_request_bytes", s.opts.MaxRequestBytes)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		s.log.Error("listener failed; shutting down", "err", serveErr)
	}
	err := s.shutdown(hl != nil, gl != nil)
	if serveErr != nil {
		return serveErr // the drain's own outcome is in the logs
	}
	return err
}

// shutdown drains and stops everything Serve started (see Serve).
func (s *Server) shutdown(useHTTP, useGRPC bool) error {
	t0 := time.Now()
	s.draining.Store(true)
	s.ready.Store(false)
	s.health.Shutdown()
	s.log.Info("shutting down", "drain_timeout", s.opts.DrainTimeout, "queued_images", s.b.queued.Load())
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
	drained := s.b.close(ctx) == nil
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
		n := s.b.queued.Load()
		s.cutDrain()
		s.b.abort()
		grace, cancel := context.WithTimeout(context.Background(), time.Second)
		if s.b.close(grace) == nil {
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
	s.b.stop()
	if !s.stopPrep(time.Second) {
		err = fmt.Errorf("server: %w: an image decoder was still running %v after the drain", ErrDrainCutShort, time.Second)
	}
	s.cutDrain()
	if err != nil {
		s.log.Warn("stopped; drain cut short", "took", time.Since(t0), "err", err)
	} else {
		s.log.Info("stopped", "took", time.Since(t0), "clean", true)
	}
	return err
}

// stopPrep stops the image decoders, waiting for the images in progress
// at most grace (they were canceled when the drain ran out); it reports
// whether they all ended. A decoder that ignores its context is left to
// finish on its own: the process is about to end anyway.
func (s *Server) stopPrep(grace time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.prep.stop()
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
