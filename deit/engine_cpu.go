package deit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vkdeit/vkdeit/cpu"
)

// CPUOptions configures NewCPUEngine. The zero value uses every CPU
// (GOMAXPROCS) and the fastest instruction set the CPU supports.
type CPUOptions struct {
	// Threads is the number of workers, the calling goroutine included;
	// 0 means runtime.GOMAXPROCS(0).
	Threads int
	// ISA forces an instruction set (cpu.Generic, cpu.AVX2, cpu.AVX512);
	// cpu.Auto, the zero value, picks cpu.Best(). NewCPUEngine fails if the
	// CPU cannot run the one asked for.
	ISA cpu.ISA
}

// CPUEngine runs a Model on the CPU with the SIMD kernels of package cpu,
// in float32 like PyTorch. It mirrors Engine: the weights are packed once
// into the GEMM micro-kernels' layout (Q, K and V fused into one product),
// the activations are allocated once for MaxBatch images, and ForwardInto
// allocates nothing. Each kernel uses every worker; an image's logits do
// not depend on the batch it is in, nor on the thread count (bit for bit).
//
// A CPUEngine is safe for concurrent use: calls are serialized, because all
// of them share the activations and the workers.
type CPUEngine struct {
	mu       sync.Mutex
	k        *cpu.Kernels
	cfg      Config
	maxBatch int
	w        cpuWeights
	act      cpuActivations
	closed   bool
}

// cpuWeights are the weights in kernel layout.
type cpuWeights struct {
	patch        *cpu.PackedB // [C·P·P → D]
	patchB       []float32
	special, pos []float32
	layers       []cpuLayer
	normG, normB []float32
	head         *cpu.PackedB // [headTokens·D → L]: both heads of a distilled model in one product
	headB        []float32
}

type cpuLayer struct {
	ln1G, ln1B, ln2G, ln2B  []float32
	qkv, proj, fc1, fc2     *cpu.PackedB
	qkvB, projB, fc1B, fc2B []float32
}

// cpuActivations are the per-forward buffers, sized for maxBatch images.
type cpuActivations struct {
	patches []float32 // [B·N, C·P·P]
	emb     []float32 // [B·N, D]
	x, x2   []float32 // [B·T, D] the residual stream (ping-pong)
	ln      []float32 // [B·T, D]
	qkv     []float32 // [B·T, 3D]
	att     []float32 // [B·T, D]
	mlp     []float32 // [B·T, M]
	tok     []float32 // [B·headTokens, D] the rows the head reads
	tokN    []float32 // the same after the final LayerNorm
}

// maxCPUActivationBytes refuses batches whose activations could not be
// allocated anyway (a mistaken maxBatch would otherwise crash the process).
const maxCPUActivationBytes = 1 << 40

// NewCPUEngine packs m's weights and allocates activations for up to
// maxBatch images.
func NewCPUEngine(m *Model, maxBatch int, opts CPUOptions) (*CPUEngine, error) {
	if maxBatch < 1 {
		return nil, fmt.Errorf("deit: cpu engine: batch size %d, want at least 1", maxBatch)
	}
	if m == nil {
		return nil, errors.New("deit: cpu engine: nil model")
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("deit: cpu engine: config: %w", err)
	}
	if err := m.Weights.check(c); err != nil {
		return nil, fmt.Errorf("deit: cpu engine: %w", err)
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("deit: cpu engine: %d threads, want ≥ 0 (0: GOMAXPROCS)", opts.Threads)
	}
	e := &CPUEngine{cfg: c, maxBatch: maxBatch}
	if err := e.allocate(); err != nil {
		return nil, err
	}
	if err := e.pack(m.Weights); err != nil {
		return nil, fmt.Errorf("deit: cpu engine: packing weights: %w", err)
	}
	k, err := cpu.New(opts.ISA, opts.Threads)
	if err != nil {
		return nil, fmt.Errorf("deit: cpu engine: %w", err)
	}
	if err := k.ReserveAttention(c.Tokens(), c.HeadDim()); err != nil {
		k.Close()
		return nil, fmt.Errorf("deit: cpu engine: %w", err)
	}
	e.k = k
	return e, nil
}

// allocate sizes every activation for maxBatch images, refusing sizes that
// overflow or exceed maxCPUActivationBytes in total.
func (e *CPUEngine) allocate() error {
	c, B := e.cfg, int64(e.maxBatch)
	D, T, M := int64(c.Hidden), int64(c.Tokens()), int64(c.MLP)
	N, K, H := int64(c.Patches()), int64(c.Channels*c.PatchSize*c.PatchSize), int64(c.HeadTokens())
	a := &e.act
	bufs := []struct {
		dst  *[]float32
		dims [3]int64
	}{
		{&a.patches, [3]int64{B, N, K}}, {&a.emb, [3]int64{B, N, D}},
		{&a.x, [3]int64{B, T, D}}, {&a.x2, [3]int64{B, T, D}}, {&a.ln, [3]int64{B, T, D}},
		{&a.qkv, [3]int64{B, T, 3 * D}}, {&a.att, [3]int64{B, T, D}}, {&a.mlp, [3]int64{B, T, M}},
		{&a.tok, [3]int64{B, H, D}}, {&a.tokN, [3]int64{B, H, D}},
	}
	const limit = maxCPUActivationBytes / 4 // floats
	sizes := make([]int64, len(bufs))
	var total int64
	for i, b := range bufs {
		n := int64(1)
		for _, v := range b.dims {
			if v <= 0 || n > limit/v {
				n = limit + 1
				break
			}
			n *= v
		}
		sizes[i] = n
		if total += n; n > limit || total > limit {
			return fmt.Errorf("deit: cpu engine: activations for batch %d exceed %d GiB", e.maxBatch, maxCPUActivationBytes>>30)
		}
	}
	for i, b := range bufs {
		*b.dst = make([]float32, sizes[i])
	}
	return nil
}

// pack puts the weights in kernel layout: every nn.Linear weight [out, in]
// packed as is (cpu.PackLinear), Q, K and V stacked into one [3D, D]
// weight so that one product yields the fused rows Attention reads, and the
// heads folded into one product like Engine's.
func (e *CPUEngine) pack(w *Weights) error {
	c := e.cfg
	D, M, L := c.Hidden, c.MLP, c.NumLabels
	K := c.Channels * c.PatchSize * c.PatchSize
	var err error
	lin := func(name string, data []float32, out, in int) *cpu.PackedB {
		if err != nil {
			return nil
		}
		var p *cpu.PackedB
		if p, err = cpu.PackLinear(data, out, in); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		return p
	}
	ew := &e.w
	ew.patch, ew.patchB = lin("patch embedding", w.PatchW, D, K), w.PatchB
	ew.special, ew.pos = w.Special, w.Pos
	ew.layers = make([]cpuLayer, len(w.Layers))
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("layer %d ", i)
		qkvW, qkvB := fusedQKV(l, D)
		ew.layers[i] = cpuLayer{
			ln1G: l.LN1G, ln1B: l.LN1B, ln2G: l.LN2G, ln2B: l.LN2B,
			qkv: lin(p+"qkv", qkvW, 3*D, D), qkvB: qkvB,
			proj: lin(p+"proj", l.ProjW, D, D), projB: l.ProjB,
			fc1: lin(p+"fc1", l.FC1W, M, D), fc1B: l.FC1B,
			fc2: lin(p+"fc2", l.FC2W, D, M), fc2B: l.FC2B,
		}
	}
	ew.normG, ew.normB = w.NormG, w.NormB
	hw, hb := fusedHead(c, w)
	ew.head, ew.headB = lin("head", hw, L, c.HeadTokens()*D), hb
	return err
}

// MaxBatch is the largest batch Forward accepts.
func (e *CPUEngine) MaxBatch() int { return e.maxBatch }

// Arithmetic implements Engine: float32 throughout, like PyTorch on the CPU.
func (e *CPUEngine) Arithmetic() string { return "fp32" }

// Config is the model configuration the engine was built for.
func (e *CPUEngine) Config() Config { return e.cfg }

// Name describes the engine, e.g. "cpu avx512 (2 threads)".
func (e *CPUEngine) Name() string {
	return fmt.Sprintf("cpu %v (%d threads)", e.k.ISA(), e.k.Threads())
}

// Close stops the engine's workers. Later calls return an error.
func (e *CPUEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		e.k.Close()
	}
	return nil
}

var errCPUClosed = errors.New("deit: cpu engine: used after Close")

// Forward classifies B preprocessed images (pixels is [B, C, H, W] float32,
// as loader.Preprocessor.Apply makes them) and returns the logits [B, L].
// ctx is checked between layers.
func (e *CPUEngine) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	if B < 1 || B > e.maxBatch {
		return nil, e.checkBatch(B)
	}
	logits := make([]float32, B*e.cfg.NumLabels)
	if err := e.ForwardInto(ctx, logits, pixels, B); err != nil {
		return nil, err
	}
	return logits, nil
}

// ForwardInto is Forward writing the logits into dst ([B, L]); it
// allocates nothing.
func (e *CPUEngine) ForwardInto(ctx context.Context, dst, pixels []float32, B int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.run(ctx, dst, pixels, B, nil, nil)
}

// ForwardHidden is Forward that also returns the residual stream after every
// encoder layer ([Layers][B·T·D]), for checking layer by layer against
// Model.ForwardReference.
func (e *CPUEngine) ForwardHidden(ctx context.Context, pixels []float32, B int) ([]float32, [][]float32, error) {
	if err := e.checkBatch(B); err != nil {
		return nil, nil, err
	}
	c := e.cfg
	logits := make([]float32, B*c.NumLabels)
	hidden := make([][]float32, c.Layers)
	for i := range hidden {
		hidden[i] = make([]float32, B*c.Tokens()*c.Hidden)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.run(ctx, logits, pixels, B, hidden, nil); err != nil {
		return nil, nil, err
	}
	return logits, hidden, nil
}

// ForwardEmbeddings implements Engine: Forward and the normalized
// head-token rows the head read.
func (e *CPUEngine) ForwardEmbeddings(ctx context.Context, pixels []float32, B int) ([]float32, []float32, error) {
	if err := e.checkBatch(B); err != nil {
		return nil, nil, err
	}
	logits := make([]float32, B*e.cfg.NumLabels)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.run(ctx, logits, pixels, B, nil, nil); err != nil {
		return nil, nil, err
	}
	n := B * e.cfg.HeadTokens() * e.cfg.Hidden
	return logits, append([]float32(nil), e.act.tokN[:n]...), nil
}

// Profile runs one forward and returns the logits and the wall time of each
// kernel call in order, with the same kernel names and labels as
// Engine.Profile ("matmul" "layer3.fc1", …).
func (e *CPUEngine) Profile(ctx context.Context, pixels []float32, B int) ([]float32, []DispatchTime, error) {
	if err := e.checkBatch(B); err != nil {
		return nil, nil, err
	}
	logits := make([]float32, B*e.cfg.NumLabels)
	prof := make([]DispatchTime, 0, 8*e.cfg.Layers+8)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.run(ctx, logits, pixels, B, nil, &prof); err != nil {
		return nil, nil, err
	}
	return logits, prof, nil
}

func (e *CPUEngine) checkBatch(B int) error {
	if B < 1 || B > e.maxBatch {
		return fmt.Errorf("deit: cpu engine: batch %d outside 1..%d (the engine's maximum batch)", B, e.maxBatch)
	}
	return nil
}

// run is the whole forward pass. hidden, when not nil, receives every
// layer's output; prof, when not nil, every kernel's time.
func (e *CPUEngine) run(ctx context.Context, logits, pixels []float32, B int, hidden [][]float32, prof *[]DispatchTime) error {
	if e.closed {
		return errCPUClosed
	}
	if err := e.checkBatch(B); err != nil {
		return err
	}
	c, a, w, k := e.cfg, &e.act, &e.w, e.k
	D, T, S, L := c.Hidden, c.Tokens(), c.Special(), c.NumLabels
	N, P, HT := c.Patches(), c.PatchSize, c.HeadTokens()
	if err := c.checkPixels(pixels, B); err != nil {
		return fmt.Errorf("deit: cpu engine: %w", err)
	}
	if len(logits) != B*L {
		return fmt.Errorf("deit: cpu engine: logits buffer has %d values, want B×L = %d×%d", len(logits), B, L)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rows := B * T
	var t0 time.Time
	start := func() {
		if prof != nil {
			t0 = time.Now()
		}
	}
	note := func(kernel, label string, layer int, flops float64) {
		if prof != nil {
			if layer >= 0 {
				label = fmt.Sprintf("layer%d.%s", layer, label)
			}
			*prof = append(*prof, DispatchTime{Kernel: kernel, Label: label, Nanos: float64(time.Since(t0).Nanoseconds()), FLOPs: flops})
		}
	}
	var err error
	gemm := func(label string, layer int, out, in []float32, b *cpu.PackedB, bias, r []float32, m int, ep cpu.Epilogue) {
		if err != nil {
			return
		}
		start()
		if err = k.Gemm(out, in, b, bias, r, m, ep); err != nil {
			err = fmt.Errorf("deit: cpu engine: %s: %w", label, err)
			return
		}
		note("matmul", label, layer, 2*float64(m)*float64(b.N())*float64(b.K()))
	}
	ln := func(label string, layer int, out, in, g, b []float32, n int) {
		if err != nil {
			return
		}
		start()
		if err = k.LayerNorm(out, in, g, b, n, D, c.Eps); err != nil {
			err = fmt.Errorf("deit: cpu engine: %s: %w", label, err)
			return
		}
		note("layernorm", label, layer, 0)
	}

	start()
	if err := cpu.Patchify(a.patches, pixels, B, c.Channels, c.ImageSize, c.ImageSize, P); err != nil {
		return fmt.Errorf("deit: cpu engine: %w", err)
	}
	note("patchify", "patchify", -1, 0)
	gemm("patch_embed", -1, a.emb, a.patches, w.patch, w.patchB, nil, B*N, cpu.EpilogueNone)
	if err != nil {
		return err
	}
	start()
	for b := range B {
		for t := range T {
			var src []float32
			if t < S {
				src = w.special[t*D : (t+1)*D]
			} else {
				src = a.emb[(b*N+t-S)*D : (b*N+t-S+1)*D]
			}
			dst := a.x[(b*T+t)*D : (b*T+t+1)*D]
			pos := w.pos[t*D : (t+1)*D]
			for i := range dst {
				dst[i] = src[i] + pos[i]
			}
		}
	}
	note("tokens", "tokens", -1, 0)

	scale := float32(1 / math.Sqrt(float64(c.HeadDim())))
	for i := range w.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		lw := &w.layers[i]
		ln("ln1", i, a.ln, a.x, lw.ln1G, lw.ln1B, rows)
		gemm("qkv", i, a.qkv, a.ln, lw.qkv, lw.qkvB, nil, rows, cpu.EpilogueNone)
		if err != nil {
			return err
		}
		start()
		if err := k.Attention(a.att, a.qkv, B, T, c.Heads, c.HeadDim(), scale); err != nil {
			return fmt.Errorf("deit: cpu engine: layer %d attention: %w", i, err)
		}
		note("attention", "attention", i, 4*float64(B)*float64(T)*float64(T)*float64(D))
		gemm("proj", i, a.x2, a.att, lw.proj, lw.projB, a.x, rows, cpu.EpilogueResidual)
		ln("ln2", i, a.ln, a.x2, lw.ln2G, lw.ln2B, rows)
		gemm("fc1", i, a.mlp, a.ln, lw.fc1, lw.fc1B, nil, rows, cpu.EpilogueGELU)
		gemm("fc2", i, a.x, a.mlp, lw.fc2, lw.fc2B, a.x2, rows, cpu.EpilogueResidual)
		if err != nil {
			return err
		}
		if hidden != nil {
			copy(hidden[i], a.x[:rows*D])
		}
	}

	// Only the head tokens reach a head, and LayerNorm works row by row, so
	// normalize just those rows.
	start()
	for b := range B {
		copy(a.tok[b*HT*D:(b+1)*HT*D], a.x[b*T*D:])
	}
	note("gather", "gather", -1, 0)
	ln("final_norm", -1, a.tokN, a.tok, w.normG, w.normB, B*HT)
	gemm("head", -1, logits, a.tokN, w.head, w.headB, nil, B, cpu.EpilogueNone)
	return err
}
