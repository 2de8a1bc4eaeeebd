// Package engine runs a DeiT model's forward plan (deit.Plan) on a device:
// a GPU through Vulkan compute shaders (GPU), the CPU through the SIMD
// kernels of package cpu (CPU), or the float64 reference built from the
// twins of internal/ref (Reference), which checks the other two. All three
// execute the same plan step by step with their own kernels; New picks one
// from a device name.
package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// Engine runs a model's forward pass on one device. Every Engine is safe for
// concurrent use.
type Engine interface {
	// Forward returns the logits [B, NumLabels] of B preprocessed images
	// (pixels [B, Channels, ImageSize, ImageSize], as
	// imageio.Preprocessor.Apply makes them).
	Forward(ctx context.Context, pixels []float32, B int) ([]float32, error)
	// Run is Forward that also returns the taps asked for (deit.Tap).
	Run(ctx context.Context, pixels []float32, B int, taps deit.Tap) (*Output, error)
	// MaxBatch is the largest B the engine accepts.
	MaxBatch() int
	// Config is the model configuration the engine runs.
	Config() deit.Config
	// Name says in a few words what runs the model, for people: e.g.
	// "vulkan NVIDIA H200 (discrete GPU)" or "reference (float64, 2 threads)".
	Name() string
	// Precision is the precision the engine runs at (never deit.Auto).
	Precision() deit.Precision
	// Arithmetic names the number format the engine computes in, for
	// results and reports: "fp32", "fp16", "fp16+coopmat 16x16x16" (tensor
	// cores) or "float64" (the reference).
	Arithmetic() string
	// Close releases what the engine holds, including a device it opened.
	Close() error
}

// Output is what Run returns: the logits and the taps asked for (nil
// otherwise).
type Output struct {
	Logits []float32 // [B, NumLabels]
	// Embeddings (deit.TapEmbeddings) are the final-LayerNorm rows of the
	// head tokens, [B, HeadTokens·Hidden].
	Embeddings []float32
	// Hidden (deit.TapHidden) holds every encoder layer's output, [B·T, D]
	// each, row b·T + t for token t of image b.
	Hidden [][]float32
	// Attention (deit.TapAttention) holds every encoder layer's attention
	// probabilities, [B, Heads, T, T] each: row (b·Heads + h)·T + t is
	// query t of head h of image b over the T keys.
	Attention [][]float32
}

// StepTime is one plan step's time in a profiled forward pass: GPU
// timestamps around its dispatch on a GPU, wall time on the CPU.
type StepTime struct {
	Step   string  // the step's name in the plan, e.g. "layer3.fc1"
	Kernel string  // its kernel family: "matmul", "attention", "layernorm", "patchify", "tokens", "gatherrows"
	Nanos  float64 // time the step took
	FLOPs  float64 // floating-point operations it performs (0 for data movement and normalization)
}

// Profiler is an Engine that can time its steps: Profile runs one forward
// pass and also returns every step's time, in plan order.
type Profiler interface {
	Profile(ctx context.Context, pixels []float32, B int) ([]float32, []StepTime, error)
}

// Streamer is an Engine that can keep more than one batch in flight:
// ForwardStream runs a stream of batches of B images, each as Forward
// would (the same logits bit for bit), overlapping one batch's upload with
// the previous batch's compute where the device allows it (the GPU engine
// on devices without host-visible memory; see GPU.ForwardStream).
//
// next returns the next batch's pixels, or nil to end the stream (the
// batches in flight are then finished and emitted before ForwardStream
// returns). The engine is done with a batch's pixels before it calls next
// again, so a caller may reuse that slice. emit receives each batch's
// logits [B, L], in the order next handed the batches out; an error from
// next or emit ends the stream and is returned, as is an engine error,
// and the batches handed out but not emitted then have no result. The
// stream delivers logits only: callers that need taps use Run.
type Streamer interface {
	ForwardStream(ctx context.Context, B int, next func() ([]float32, error), emit func(logits []float32) error) error
}

// Options choose and size the engine New builds.
type Options struct {
	// Device names what runs the model:
	//   "auto" or "": a GPU through Vulkan if the machine has one, else the CPU engine;
	//   "gpu": the Vulkan device GPU.Select picks (CPU Vulkan drivers such as lavapipe included);
	//   "cpu": the CPU engine;
	//   "ref": the float64 reference (slow; for checking);
	//   a number or any other word: the Vulkan device with that index or name substring.
	Device string
	// MaxBatch is the largest batch the engine must accept (default 8). An
	// engine whose activations do not fit in device memory (a GPU) or in
	// half the host's available memory (the CPU engine) is retried at half
	// the batch, down to 1; Engine.MaxBatch reports what was built.
	MaxBatch int
	// GPU configures Vulkan (validation, staging); its Select is set from
	// Device when Device names a device.
	GPU gpu.Options
	// Threads bounds the CPU and reference engines' goroutines (0: GOMAXPROCS).
	Threads int
	// Precision is the arithmetic (default fp32). Each engine supports its
	// own set — the GPU fp32 and fp16, the CPU and the reference fp32 — and
	// resolves deit.Auto itself; an unsupported one is an error listing the
	// supported ones.
	Precision deit.Precision
}

// ErrOutOfMemory is wrapped by the errors of engines whose activations do
// not fit in the memory they may use (the CPU engine's host memory; GPU
// engines wrap gpu.ErrOutOfMemory). New then retries at half the batch.
var ErrOutOfMemory = errors.New("engine: out of memory")

// Kind is the kind of engine a device name resolves to.
type Kind string

const (
	KindGPU       Kind = "gpu"
	KindCPU       Kind = "cpu"
	KindReference Kind = "ref"
)

// ResolveDevice says which engine New builds for an Options.Device value:
// KindGPU (with sel, a Vulkan device index or name substring, or "" for the
// default), KindCPU or KindReference. "auto" resolves to KindGPU when
// gpuSelect names a device or the machine has a Vulkan GPU (discrete,
// integrated or virtual), else to KindCPU: a CPU Vulkan driver such as
// lavapipe is slower than the CPU engine, so it runs only when named or
// asked for with "gpu".
func ResolveDevice(device, gpuSelect string) (kind Kind, sel string) {
	switch d := strings.TrimSpace(device); strings.ToLower(d) {
	case "", "auto":
		if gpuSelect != "" || HasGPU() {
			return KindGPU, gpuSelect
		}
		return KindCPU, ""
	case "gpu", "vulkan":
		return KindGPU, gpuSelect
	case "cpu":
		return KindCPU, ""
	case "ref", "reference":
		return KindReference, ""
	default:
		return KindGPU, d
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

// New builds the engine opts.Device asks for (see Options and
// ResolveDevice).
func New(m *deit.Model, opts Options) (Engine, error) {
	if m == nil {
		return nil, errors.New("engine: nil model")
	}
	batch := opts.MaxBatch
	if batch == 0 {
		batch = 8
	}
	if batch < 1 {
		return nil, fmt.Errorf("engine: batch size %d, want at least 1", batch)
	}
	kind, sel := ResolveDevice(opts.Device, opts.GPU.Select)
	switch kind {
	case KindReference:
		return NewReference(m, batch, ReferenceOptions{Threads: opts.Threads, Precision: opts.Precision})
	case KindCPU:
		return halving(batch, func(b int) (Engine, error) {
			return NewCPU(m, b, CPUOptions{Threads: opts.Threads, Precision: opts.Precision})
		})
	}
	// Refuse an unsupported precision before opening a device.
	if err := opts.Precision.Supported("gpu engine", gpuPrecisions...); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	gopts := opts.GPU
	gopts.Select = sel
	d, err := gpu.Open(gopts)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e, err := halving(batch, func(b int) (Engine, error) {
		e, err := NewGPU(d, m, b, GPUOptions{Precision: opts.Precision})
		if err != nil {
			return nil, err
		}
		e.ownsDevice = true
		return e, nil
	})
	if err != nil {
		d.Close()
	}
	return e, err
}

// halving builds an engine for batch, retrying at half the batch, down to
// 1, while it does not fit in memory.
func halving(batch int, build func(b int) (Engine, error)) (Engine, error) {
	for b := batch; ; b /= 2 {
		e, err := build(b)
		if err == nil || b <= 1 || !(errors.Is(err, ErrOutOfMemory) || errors.Is(err, gpu.ErrOutOfMemory)) {
			return e, err
		}
	}
}

// Precisions lists the precisions an engine kind runs (besides deit.Auto,
// which every engine resolves); a GPU also needs the device's support for
// fp16.
func Precisions(kind Kind) []deit.Precision {
	switch kind {
	case KindGPU:
		return slices.Clone(gpuPrecisions)
	case KindCPU:
		return slices.Clone(cpuPrecisions)
	}
	return []deit.Precision{deit.FP32}
}

// checkBatch is every engine's batch-size check.
func checkBatch(B, maxBatch int) error {
	if B < 1 || B > maxBatch {
		return fmt.Errorf("batch %d outside 1..%d (the engine's maximum batch)", B, maxBatch)
	}
	return nil
}
