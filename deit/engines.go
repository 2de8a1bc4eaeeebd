package deit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/vkdeit/vkdeit/gpu"
)

// Engine runs a Model's forward pass on one device. GPUEngine (Vulkan),
// CPUEngine (SIMD kernels) and ReferenceEngine (the float64 reference)
// implement it; NewEngine picks one from a device name. Every Engine is safe
// for concurrent use.
type Engine interface {
	// Forward returns the logits [B, NumLabels] of B preprocessed images
	// (pixels [B, Channels, ImageSize, ImageSize], as
	// imageio.Preprocessor.Apply makes them).
	Forward(ctx context.Context, pixels []float32, B int) ([]float32, error)
	// ForwardEmbeddings is Forward that also returns the final-LayerNorm
	// rows of the head tokens, [B, HeadTokens·Hidden]: per image [CLS]
	// then, for distilled models, [DIST].
	ForwardEmbeddings(ctx context.Context, pixels []float32, B int) (logits, embeddings []float32, err error)
	// MaxBatch is the largest B the engine accepts.
	MaxBatch() int
	// Config is the model configuration the engine runs.
	Config() Config
	// Name says in a few words what runs the model, for people: e.g.
	// "vulkan NVIDIA H200 (discrete GPU)" or "reference (float64, 2 threads)".
	Name() string
	// Arithmetic names the number format the engine computes in, for
	// results and reports: "fp32", "fp16", "fp16+coopmat 16x16x16" (tensor
	// cores) or "float64" (the reference).
	Arithmetic() string
	// Close releases what the engine holds, including a device it opened.
	Close() error
}

// Profiler is an Engine that can time its kernels: Profile runs one forward
// pass and also returns every kernel launch's time, in order (GPU
// timestamps on a GPU, wall time per kernel on the CPU).
type Profiler interface {
	Profile(ctx context.Context, pixels []float32, B int) ([]float32, []DispatchTime, error)
}

// EngineOptions choose and size the engine NewEngine builds.
type EngineOptions struct {
	// Device names what runs the model:
	//   "auto" or "": a GPU through Vulkan if the machine has one, else the CPU engine;
	//   "gpu": the Vulkan device GPU.Select picks (CPU Vulkan drivers such as lavapipe included);
	//   "cpu": the CPU engine;
	//   "ref": the float64 reference (slow; for checking);
	//   a number or any other word: the Vulkan device with that index or name substring.
	Device string
	// MaxBatch is the largest batch the engine must accept (default 8). A
	// GPU engine that does not fit in device memory is retried at half the
	// batch, down to 1; Engine.MaxBatch reports what was built.
	MaxBatch int
	// GPU configures Vulkan (validation, staging); its Select is set from
	// Device when Device names a device.
	GPU gpu.Options
	// Threads bounds the CPU and reference engines' goroutines (0: GOMAXPROCS).
	Threads int
	// Precision is the GPU engine's arithmetic: fp32 (the default), fp16 or
	// auto (see gpu.Precision, GPUEngineOptions, docs/precision.md). The
	// CPU and reference engines compute in fp32 and float64 whatever it says.
	Precision gpu.Precision
}

// ResolveDevice says which engine NewEngine builds for an
// EngineOptions.Device value: "gpu" (with sel, a Vulkan device index or
// name substring, or "" for the default), "cpu" or "ref". "auto" resolves
// to "gpu" when gpuSelect names a device or the machine has a Vulkan GPU
// (discrete, integrated or virtual), else to "cpu": a CPU Vulkan driver
// such as lavapipe is slower than the CPU engine, so it runs only when
// named or asked for with "gpu".
func ResolveDevice(device, gpuSelect string) (kind, sel string) {
	switch d := strings.TrimSpace(device); strings.ToLower(d) {
	case "", "auto":
		if gpuSelect != "" || HasGPU() {
			return "gpu", gpuSelect
		}
		return "cpu", ""
	case "gpu", "vulkan":
		return "gpu", gpuSelect
	case "cpu":
		return "cpu", ""
	case "ref", "reference":
		return "ref", ""
	default:
		return "gpu", d
	}
}

// HasGPU reports whether Vulkan sees a device that is not a CPU driver.
func HasGPU() bool {
	devs, err := gpu.Devices()
	if err != nil {
		return false
	}
	for _, d := range devs {
		if d.Type != gpu.DeviceCPU {
			return true
		}
	}
	return false
}

// NewEngine builds the engine opts.Device asks for (see EngineOptions and
// ResolveDevice).
func NewEngine(m *Model, opts EngineOptions) (Engine, error) {
	if m == nil {
		return nil, errors.New("deit: engine: nil model")
	}
	batch := opts.MaxBatch
	if batch == 0 {
		batch = 8
	}
	if batch < 1 {
		return nil, fmt.Errorf("deit: engine: batch size %d, want at least 1", batch)
	}
	kind, sel := ResolveDevice(opts.Device, opts.GPU.Select)
	if kind != "gpu" && opts.Precision == gpu.PrecisionFP16 {
		return nil, fmt.Errorf("deit: engine: precision fp16 runs on Vulkan devices only; the %s engine computes in fp32 (use fp32 or auto)", kind)
	}
	switch kind {
	case "ref":
		e, err := NewReferenceEngine(m, batch, opts.Threads)
		if err != nil {
			return nil, err
		}
		return e, nil
	case "cpu":
		return newCPUEngineFor(m, batch, opts.Threads)
	}
	gopts := opts.GPU
	gopts.Select = sel
	d, err := gpu.Open(gopts)
	if err != nil {
		return nil, fmt.Errorf("deit: engine: %w", err)
	}
	for b := batch; ; b /= 2 {
		e, err := NewGPUEngineWith(d, m, b, GPUEngineOptions{Precision: opts.Precision})
		if err == nil {
			e.ownsDevice = true
			return e, nil
		}
		if !errors.Is(err, gpu.ErrOutOfMemory) || b <= 1 {
			d.Close()
			return nil, err
		}
	}
}

// ReferenceEngine is the Engine over Model.ForwardReference: the float64
// reference, for checking other engines and for machines where nothing else
// runs. It is slow.
type ReferenceEngine struct {
	m        *Model
	maxBatch int
	threads  int
	mu       sync.Mutex // ForwardReference is stateless; this only orders Close
	closed   bool
}

// NewReferenceEngine returns a ReferenceEngine for m accepting batches up
// to maxBatch; threads is reported by Name (0: GOMAXPROCS, the reference
// splits its loops over all of them).
func NewReferenceEngine(m *Model, maxBatch, threads int) (*ReferenceEngine, error) {
	if m == nil {
		return nil, errors.New("deit: reference: nil model")
	}
	if maxBatch < 1 {
		return nil, fmt.Errorf("deit: reference: batch size %d, want at least 1", maxBatch)
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("deit: reference: config: %w", err)
	}
	if err := m.Weights.check(m.Config); err != nil {
		return nil, fmt.Errorf("deit: reference: %w", err)
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &ReferenceEngine{m: m, maxBatch: maxBatch, threads: threads}, nil
}

// Forward implements Engine.
func (r *ReferenceEngine) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	logits, _, err := r.ForwardEmbeddings(ctx, pixels, B)
	return logits, err
}

// ForwardEmbeddings implements Engine.
func (r *ReferenceEngine) ForwardEmbeddings(ctx context.Context, pixels []float32, B int) ([]float32, []float32, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, nil, errors.New("deit: reference: used after Close")
	}
	if B < 1 || B > r.maxBatch {
		return nil, nil, fmt.Errorf("deit: reference: batch %d outside 1..%d (the engine's maximum batch)", B, r.maxBatch)
	}
	res, err := r.m.ForwardReference(ctx, pixels, B)
	if err != nil {
		return nil, nil, err
	}
	return res.Logits, res.Embeddings, nil
}

// MaxBatch implements Engine.
func (r *ReferenceEngine) MaxBatch() int { return r.maxBatch }

// Arithmetic implements Engine: float64 accumulation, float32 activations.
func (r *ReferenceEngine) Arithmetic() string { return "float64" }

// Config implements Engine.
func (r *ReferenceEngine) Config() Config { return r.m.Config }

// Name implements Engine.
func (r *ReferenceEngine) Name() string {
	return fmt.Sprintf("reference (float64, %d threads)", r.threads)
}

// Close implements Engine; later calls fail.
func (r *ReferenceEngine) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

// newCPUEngineFor builds the engine for EngineOptions.Device "cpu".
func newCPUEngineFor(m *Model, maxBatch, threads int) (Engine, error) {
	e, err := NewCPUEngine(m, maxBatch, CPUOptions{Threads: threads})
	if err != nil {
		return nil, err
	}
	return e, nil
}
