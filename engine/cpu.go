package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vkdeit/vkdeit/cpu"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/hostmem"
	"github.com/vkdeit/vkdeit/internal/humanize"
)

// CPUOptions configure NewCPU. The zero value uses every CPU (GOMAXPROCS),
// the fastest instruction set the CPU supports, and fp32.
type CPUOptions struct {
	// Threads is the number of workers, the calling goroutine included;
	// 0 means runtime.GOMAXPROCS(0).
	Threads int
	// ISA forces an instruction set (cpu.Generic, cpu.AVX2, cpu.AVX512, cpu.NEON);
	// cpu.Auto, the zero value, picks cpu.Best(). NewCPU fails if the CPU
	// cannot run the one asked for.
	ISA cpu.ISA
	// Precision is fp32, bf16, or auto: bf16 where the CPU has native bf16
	// dot products (cpu.BF16Dot.Native: AVX512_BF16 or AMX with ISA
	// AVX512, BFDOT with ISA NEON), fp32 otherwise. Asked for explicitly on a CPU without them,
	// bf16 runs the Go emulation (cpu.BF16Generic): correct, and slow.
	Precision deit.Precision
	// BF16 forces the unit of the bf16 products (cpu.BF16Generic,
	// cpu.BF16AVX512, cpu.BF16AMX, cpu.BF16NEON); cpu.BF16Auto, the zero value, picks
	// the fastest one the ISA can use. NewCPU fails if the CPU cannot run
	// the one asked for.
	BF16 cpu.BF16Dot
	// MaxBytes bounds the activations (0: half the memory the host can
	// still allocate, hostmem.Available). A larger batch is an error
	// wrapping ErrOutOfMemory, before anything is allocated.
	MaxBytes int64
}

// cpuPrecisions are the precisions the CPU engine runs.
var cpuPrecisions = []deit.Precision{deit.FP32, deit.BF16}

// CPU runs a model's plan on the CPU with the SIMD kernels of package cpu,
// in float32 like PyTorch, or in bf16: the Linear steps that read a narrow
// value (deit.Value.Narrow) pack their weights to bf16 and round their
// input to bf16 (round to nearest even) as they read it, attention runs
// Q·Kᵀ and P·V in bf16, and every product accumulates in float32 while
// LayerNorm, softmax, GELU, bias, residual, the residual stream, the final
// LayerNorm, the head and the logits stay float32 (docs/precision.md).
// The Linear weights are packed once into the GEMM micro-kernels' layout,
// the activations are allocated once for MaxBatch images, and ForwardInto
// allocates nothing. Each kernel uses every worker; an image's logits
// depend neither on the batch it is in nor on the thread count (bit for
// bit).
//
// A CPU engine is safe for concurrent use: calls are serialized, because
// all of them share the activations and the workers.
type CPU struct {
	mu       sync.Mutex
	k        *cpu.Kernels
	plan     *deit.Plan
	maxBatch int
	prec     deit.Precision            // fp32 or bf16
	packed   []*cpu.PackedB            // per step: the packed weight of a Linear, else nil
	vals     [deit.NumValues][]float32 // activations for maxBatch images; Pixels and Logits are the caller's
	// spare is what the activations leave of the memory limit, in floats:
	// the values only optional steps write (deit.Plan.Optional) are
	// allocated from it on the first pass that asks for their tap.
	spare  int64
	closed bool
}

// NewCPU packs m's weights and allocates activations for up to maxBatch
// images.
func NewCPU(m *deit.Model, maxBatch int, opts CPUOptions) (*CPU, error) {
	if maxBatch < 1 {
		return nil, fmt.Errorf("engine: cpu: batch size %d, want at least 1", maxBatch)
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("engine: cpu: %d threads, want ≥ 0 (0: GOMAXPROCS)", opts.Threads)
	}
	if err := opts.Precision.Supported("cpu engine", cpuPrecisions...); err != nil {
		return nil, fmt.Errorf("engine: %w", err) // the message names the engine
	}
	plan, err := deit.NewPlan(m)
	if err != nil {
		return nil, fmt.Errorf("engine: cpu: %w", err)
	}
	k, err := cpu.NewBF16(opts.ISA, opts.BF16, opts.Threads)
	if err != nil {
		return nil, fmt.Errorf("engine: cpu: %w", err)
	}
	e := &CPU{plan: plan, maxBatch: maxBatch, prec: opts.Precision, k: k}
	if e.prec == deit.Auto {
		e.prec = deit.FP32
		if k.BF16().Native() {
			e.prec = deit.BF16
		}
	}
	if err := e.setup(opts.MaxBytes); err != nil {
		k.Close()
		return nil, fmt.Errorf("engine: cpu: %w", err)
	}
	return e, nil
}

// setup allocates the activations within maxBytes (0: half the available
// host memory), packs the weights and reserves the kernels' scratch.
func (e *CPU) setup(maxBytes int64) error {
	if maxBytes <= 0 {
		maxBytes = hostmem.Available() / 2
	}
	if err := e.allocate(maxBytes); err != nil {
		return err
	}
	if err := e.pack(); err != nil {
		return fmt.Errorf("packing weights: %w", err)
	}
	c := e.plan.Config
	if err := e.k.ReserveAttention(c.Tokens(), c.HeadDim()); err != nil {
		return err
	}
	if e.prec == deit.BF16 {
		// The largest input a bf16 product rounds per call.
		var M, K int
		for _, s := range e.plan.Steps {
			if l, ok := s.(*deit.Linear); ok && e.narrow(l) && cpu.GemmBF16Words(l.Rows, l.K) > cpu.GemmBF16Words(M, K) {
				M, K = l.Rows, l.K
			}
		}
		if err := e.k.ReserveGemmBF16(e.maxBatch*M, K); err != nil {
			return err
		}
	}
	return nil
}

// narrow reports whether a Linear step runs in bf16: at bf16, those whose
// input the plan marks narrow (all but the head).
func (e *CPU) narrow(l *deit.Linear) bool {
	return e.prec == deit.BF16 && l.Info().In.Narrow()
}

// allocate sizes every activation the plan uses for maxBatch images,
// refusing batches whose activations overflow or exceed maxBytes in total
// (a mistaken batch size would otherwise take the machine's memory, or the
// process, down).
func (e *CPU) allocate(maxBytes int64) error {
	limit := maxBytes / 4 // floats
	B := int64(e.maxBatch)
	var sizes [deit.NumValues]int64
	var total, perImage int64
	for v := range deit.Value(deit.NumValues) {
		if v == deit.Pixels || v == deit.Logits || e.plan.Optional(v) {
			continue
		}
		rows, cols := e.plan.Shape(v)
		n := int64(rows) * int64(cols)
		perImage += n
		if n <= 0 || B > limit/n {
			n = limit + 1
		} else {
			n *= B
		}
		sizes[v] = n
		total += n
	}
	if e.prec == deit.BF16 {
		// The bf16 copy of the largest narrow product input (cpu rounds A
		// into it): counted like an activation.
		var n int64
		for _, s := range e.plan.Steps {
			if l, ok := s.(*deit.Linear); ok && e.narrow(l) {
				n = max(n, int64(cpu.GemmBF16Words(l.Rows, l.K)))
			}
		}
		perImage += n
		if n > 0 && B > limit/n {
			n = limit + 1
		} else {
			n *= B
		}
		total += n
	}
	if total > limit {
		return fmt.Errorf("activations for batch %d need %s, more than the %s it may use; batches up to %d fit: %w",
			e.maxBatch, humanize.Bytes(B*perImage*4), humanize.Bytes(maxBytes), limit/max(perImage, 1), ErrOutOfMemory)
	}
	for v, n := range sizes {
		if n > 0 {
			e.vals[v] = make([]float32, n)
		}
	}
	e.spare = limit - total
	return nil
}

// optional returns the buffer of value v, which only optional steps write,
// allocating it for maxBatch images from the spare memory on first use.
func (e *CPU) optional(v deit.Value) ([]float32, error) {
	if e.vals[v] != nil {
		return e.vals[v], nil
	}
	rows, cols := e.plan.Shape(v)
	per := int64(rows) * int64(cols)
	if B := int64(e.maxBatch); per <= 0 || B > e.spare/per {
		return nil, fmt.Errorf("%v for batch %d need %s, more than the %s left of the engine's memory limit: %w",
			v, e.maxBatch, humanize.Bytes(B*per*4), humanize.Bytes(e.spare*4), ErrOutOfMemory)
	}
	e.spare -= int64(e.maxBatch) * per
	e.vals[v] = make([]float32, int64(e.maxBatch)*per)
	return e.vals[v], nil
}

// pack puts every Linear step's weight in the GEMM's panel layout
// (cpu.PackLinear reads nn.Linear's [out, in] as is), in bf16 for the steps
// that run narrow (cpu.PackLinearBF16: half the memory).
func (e *CPU) pack() error {
	e.packed = make([]*cpu.PackedB, len(e.plan.Steps))
	for i, s := range e.plan.Steps {
		l, ok := s.(*deit.Linear)
		if !ok {
			continue
		}
		packLinear := cpu.PackLinear
		if e.narrow(l) {
			packLinear = cpu.PackLinearBF16
		}
		p, err := packLinear(l.W, l.N, l.K)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Name, err)
		}
		e.packed[i] = p
	}
	return nil
}

// MaxBatch implements Engine.
func (e *CPU) MaxBatch() int { return e.maxBatch }

// Precision implements Engine: fp32 or bf16.
func (e *CPU) Precision() deit.Precision { return e.prec }

// Arithmetic implements Engine: "fp32" (float32 throughout, like PyTorch on
// the CPU), or "bf16 <unit>" naming the unit of the bf16 products, e.g.
// "bf16 avx512bf16", "bf16 amx", "bf16 neonbf16", "bf16 generic" (emulated).
func (e *CPU) Arithmetic() string {
	if e.prec == deit.BF16 {
		return fmt.Sprintf("bf16 %v", e.k.BF16())
	}
	return "fp32"
}

// Config implements Engine.
func (e *CPU) Config() deit.Config { return e.plan.Config }

// Name implements Engine, e.g. "cpu avx512 (2 threads)", and below fp32
// the arithmetic too: "cpu avx512 (2 threads), bf16 avx512bf16".
func (e *CPU) Name() string {
	name := fmt.Sprintf("cpu %v (%d threads)", e.k.ISA(), e.k.Threads())
	if e.prec != deit.FP32 {
		name += ", " + e.Arithmetic()
	}
	return name
}

// Close stops the engine's workers. Later calls return an error.
func (e *CPU) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		e.k.Close()
	}
	return nil
}

var errCPUClosed = errors.New("engine: cpu: used after Close")

// Forward implements Engine.
func (e *CPU) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	if err := checkBatch(B, e.maxBatch); err != nil {
		return nil, fmt.Errorf("engine: cpu: %w", err)
	}
	logits := make([]float32, B*e.plan.Config.NumLabels)
	if err := e.ForwardInto(ctx, logits, pixels, B); err != nil {
		return nil, err
	}
	return logits, nil
}

// ForwardInto is Forward writing the logits into dst ([B, L]); it
// allocates nothing.
func (e *CPU) ForwardInto(ctx context.Context, dst, pixels []float32, B int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.run(ctx, dst, pixels, B, 0, nil, nil)
}

// Run implements Engine.
func (e *CPU) Run(ctx context.Context, pixels []float32, B int, taps deit.Tap) (*Output, error) {
	if err := checkBatch(B, e.maxBatch); err != nil {
		return nil, fmt.Errorf("engine: cpu: %w", err)
	}
	out := &Output{Logits: make([]float32, B*e.plan.Config.NumLabels)}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.run(ctx, out.Logits, pixels, B, taps, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// Profile implements Profiler: one forward pass and the wall time of each
// step.
func (e *CPU) Profile(ctx context.Context, pixels []float32, B int) ([]float32, []StepTime, error) {
	if err := checkBatch(B, e.maxBatch); err != nil {
		return nil, nil, fmt.Errorf("engine: cpu: %w", err)
	}
	logits := make([]float32, B*e.plan.Config.NumLabels)
	prof := make([]StepTime, 0, len(e.plan.Steps))
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.run(ctx, logits, pixels, B, 0, nil, &prof); err != nil {
		return nil, nil, err
	}
	return logits, prof, nil
}

// run executes the plan. taps and out, when set, receive the taps asked
// for; prof, when not nil, every step's time.
func (e *CPU) run(ctx context.Context, logits, pixels []float32, B int, taps deit.Tap, out *Output, prof *[]StepTime) error {
	if e.closed {
		return errCPUClosed
	}
	if err := checkBatch(B, e.maxBatch); err != nil {
		return fmt.Errorf("engine: cpu: %w", err)
	}
	c := e.plan.Config
	if err := c.CheckPixels(pixels, B); err != nil {
		return fmt.Errorf("engine: cpu: %w", err)
	}
	if len(logits) != B*c.NumLabels {
		return fmt.Errorf("engine: cpu: logits buffer has %d values, want B×L = %d×%d", len(logits), B, c.NumLabels)
	}
	for _, s := range e.plan.Steps {
		if si := s.Info(); si.Optional && si.Runs(taps) {
			if _, err := e.optional(si.Out); err != nil {
				return fmt.Errorf("engine: cpu: %s: %w", si.Name, err)
			}
		}
	}
	vals := e.vals
	vals[deit.Pixels], vals[deit.Logits] = pixels, logits
	k := e.k
	layer := -1
	for i, step := range e.plan.Steps {
		si := step.Info()
		if !si.Runs(taps) {
			continue
		}
		if i == 0 || si.Layer != layer { // ctx is checked between layers
			if err := ctx.Err(); err != nil {
				return err
			}
			layer = si.Layer
		}
		var t0 time.Time
		if prof != nil {
			t0 = time.Now()
		}
		in, dst := vals[si.In], vals[si.Out]
		var err error
		switch s := step.(type) {
		case *deit.Patchify:
			err = cpu.Patchify(dst, in, B, s.Channels, s.Size, s.Size, s.Patch)
		case *deit.Linear:
			var r []float32
			if s.Epilogue == deit.EpilogueResidual {
				r = vals[s.Resid]
			}
			err = k.Gemm(dst, in, e.packed[i], s.Bias, r, B*s.Rows, cpuEpilogue(s.Epilogue))
		case *deit.Tokens:
			err = cpu.Tokens(dst, in, s.Special, s.Pos, B, s.T, s.S, s.D)
		case *deit.LayerNorm:
			err = k.LayerNorm(dst, in, s.Gamma, s.Beta, B*s.Rows, s.D, s.Eps)
		case *deit.Attention:
			attention := k.Attention
			if e.prec == deit.BF16 && si.In.Narrow() {
				attention = k.AttentionBF16
			}
			err = attention(dst, in, B, s.T, s.Heads, s.HeadDim, float32(s.Scale))
		case *deit.AttentionProbs:
			err = k.AttentionProbs(dst, in, B, s.T, s.Heads, s.HeadDim, float32(s.Scale))
		case *deit.GatherRows:
			err = cpu.GatherRows(dst, in, B, s.T, s.Rows, s.D)
		default:
			err = fmt.Errorf("%T not supported", step)
		}
		if err != nil {
			return fmt.Errorf("engine: cpu: %s: %w", si.Name, err)
		}
		if prof != nil {
			*prof = append(*prof, StepTime{Step: si.Name, Kernel: si.Kernel, Nanos: float64(time.Since(t0).Nanoseconds()), FLOPs: step.FLOPs(B)})
		}
		if si.Tap&taps != 0 {
			tapOut(out, si.Tap, dst[:e.plan.Len(si.Out, B)])
		}
	}
	return nil
}

// tapOut stores a copy of a tapped value in out.
func tapOut(out *Output, t deit.Tap, v []float32) {
	c := append([]float32(nil), v...)
	switch t {
	case deit.TapHidden:
		out.Hidden = append(out.Hidden, c)
	case deit.TapEmbeddings:
		out.Embeddings = c
	case deit.TapAttention:
		out.Attention = append(out.Attention, c)
	}
}

// cpuEpilogue maps the plan's epilogue to the GEMM's.
func cpuEpilogue(ep deit.Epilogue) cpu.Epilogue {
	switch ep {
	case deit.EpilogueGELU:
		return cpu.EpilogueGELU
	case deit.EpilogueResidual:
		return cpu.EpilogueResidual
	}
	return cpu.EpilogueNone
}
