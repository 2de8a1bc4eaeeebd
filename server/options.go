package server

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Default listen addresses: KServe's ports for HTTP/REST and gRPC.
const (
	DefaultHTTPAddr = ":8080"
	DefaultGRPCAddr = ":8081"
)

// Off as a listen address disables that protocol.
const Off = "off"

// Options configure a Server. The zero value of every field means its
// default.
type Options struct {
	// Name is the name of the model given to New in URLs and gRPC
	// requests (default "deit"; `vkdeit serve` derives one from its
	// --model argument). It may not contain "/".
	Name string
	// Version is the model version served (default "1"). Requests may name
	// it or leave it out.
	Version string
	// ServerVersion is reported by server metadata (default "dev").
	ServerVersion string

	// HTTPAddr and GRPCAddr are where Run listens (defaults
	// DefaultHTTPAddr and DefaultGRPCAddr; Off disables one of them).
	// Serve takes listeners instead.
	HTTPAddr, GRPCAddr string

	// MaxBatch is the most images one engine call takes (default: the
	// engine's MaxBatch). More than the engine was built for (a GPU short
	// of memory builds for fewer) is lowered to the engine's, with a
	// warning through Logger.
	MaxBatch int
	// MaxDelay is how long the oldest queued request may wait for more
	// images to fill a batch (Triton's max_queue_delay; default 0: a batch
	// holds what queued while the engine was busy, and the first request
	// after a quiet spell runs at once). A negative value means 0.
	MaxDelay time.Duration
	// MaxQueue is how many images may be waiting (being preprocessed or
	// queued for the engine) before new requests are refused with 429 /
	// RESOURCE_EXHAUSTED (default 16 × MaxBatch, at least 64). A request
	// with more images than this is refused as too large.
	MaxQueue int
	// Timeout bounds each inference request from arrival to answer
	// (default 30s); a gRPC client's shorter deadline wins.
	Timeout time.Duration
	// Workers is how many images are decoded and preprocessed in parallel
	// ahead of the engine (default GOMAXPROCS).
	Workers int
	// MaxRequestBytes bounds a request body or gRPC message (default: a
	// JSON request of MaxBatch images at 16 bytes a value, at least 32
	// MiB; images of 3×384×384 for a server of repository models only).
	MaxRequestBytes int64
	// Decode controls image decoding for image inputs (EXIF orientation),
	// as for `vkdeit classify`.
	Decode imageio.DecodeOptions

	// DrainTimeout bounds graceful shutdown (default 25s, inside
	// Kubernetes' default 30s termination grace period).
	DrainTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout protect the HTTP
	// server from slow clients (defaults 10s, 60s and 120s). The write
	// timeout is derived: ReadTimeout + Timeout + 10s.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration

	// Repository, when set, is a model repository: the server loads all
	// its models when it starts and loads and unloads them on request
	// (Triton's model repository extension). Each model gets its own
	// queue of MaxQueue images and MaxBatch batches.
	Repository Repository
	// SkipWarmup turns a model ready as soon as it is loaded, without
	// running every batch size once first (for tests that count engine
	// calls).
	SkipWarmup bool

	// Logger receives the server's logs (default: discard).
	Logger *slog.Logger
}

// withDefaults returns o with every zero field set, or why o is unusable
// with engine e (nil for a server of repository models only).
func (o Options) withDefaults(e engine.Engine) (Options, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "deit"
	}
	if strings.Contains(o.Name, "/") {
		return o, fmt.Errorf("model name %q contains \"/\"", o.Name)
	}
	if o.Version == "" {
		o.Version = "1"
	}
	if strings.Contains(o.Version, "/") {
		return o, fmt.Errorf("model version %q contains \"/\"", o.Version)
	}
	if o.ServerVersion == "" {
		o.ServerVersion = "dev"
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = DefaultHTTPAddr
	}
	if o.GRPCAddr == "" {
		o.GRPCAddr = DefaultGRPCAddr
	}
	if o.HTTPAddr == Off && o.GRPCAddr == Off {
		return o, errors.New("both HTTP and gRPC are off")
	}
	em := defaultRepoMaxBatch
	if e != nil {
		em = e.MaxBatch()
	}
	switch {
	case o.MaxBatch == 0:
		o.MaxBatch = em
	case o.MaxBatch < 0:
		return o, fmt.Errorf("max batch %d, want at least 1", o.MaxBatch)
	case o.MaxBatch > em && e != nil:
		o.Logger.Warn("max batch lowered to what the engine was built for", "asked", o.MaxBatch, "max_batch", em)
		o.MaxBatch = em
	}
	o.MaxDelay = max(o.MaxDelay, 0)
	switch {
	case o.MaxQueue == 0:
		o.MaxQueue = max(16*o.MaxBatch, 64)
	case o.MaxQueue < o.MaxBatch:
		return o, fmt.Errorf("max queue %d is less than max batch %d", o.MaxQueue, o.MaxBatch)
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	switch {
	case o.Workers == 0:
		o.Workers = runtime.GOMAXPROCS(0)
	case o.Workers < 0:
		return o, fmt.Errorf("workers %d, want at least 1 (0: GOMAXPROCS)", o.Workers)
	}
	if o.MaxRequestBytes == 0 {
		pixels := int64(3 * repoImageSize * repoImageSize)
		if e != nil {
			c := e.Config()
			pixels = int64(c.Channels * c.ImageSize * c.ImageSize)
		}
		o.MaxRequestBytes = max(int64(o.MaxBatch)*pixels*16, 32<<20)
	}
	if o.MaxRequestBytes < 0 || o.MaxRequestBytes > 1<<31-1 {
		return o, fmt.Errorf("max request size %d bytes, want 1 to 2 GiB", o.MaxRequestBytes)
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&o.DrainTimeout, 25 * time.Second}, {&o.ReadHeaderTimeout, 10 * time.Second}, {&o.ReadTimeout, 60 * time.Second}, {&o.IdleTimeout, 120 * time.Second}} {
		if *d.p <= 0 {
			*d.p = d.def
		}
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("timeout %v is negative", o.Timeout)
	}
	return o, nil
}

// defaultRepoMaxBatch is MaxBatch's default for a server of repository
// models only (the --max-batch default), and repoImageSize the image size
// MaxRequestBytes' default assumes then (DeiT's largest, 384).
const (
	defaultRepoMaxBatch = 8
	repoImageSize       = 384
)

// Options are the options s runs with: those given to New with every
// default applied and MaxBatch lowered to the engine's.
func (s *Server) Options() Options { return s.opts }
