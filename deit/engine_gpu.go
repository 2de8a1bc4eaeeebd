package deit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vkdeit/vkdeit/gpu"
)

// GPUEngine runs a Model on a Vulkan device. The weights are uploaded once, the
// activation buffers are allocated once for MaxBatch images, and the whole
// network — patch embedding, every encoder layer, the final LayerNorm and the
// head(s) — is recorded once per batch size as one command buffer that every
// later Forward with that batch size replays with a single submit and wait.
//
// A GPUEngine is safe for concurrent use: calls are serialized internally,
// because all batch sizes share one set of activation buffers.
type GPUEngine struct {
	mu       sync.Mutex
	dev      *gpu.Device
	ops      *gpu.Ops
	cfg      Config
	maxBatch int
	prec     gpu.Precision // resolved: fp32 or fp16
	// act16 is the element type of the activations that fp16 stores as
	// fp16 (patches, LayerNorm outputs, qkv, attention, MLP), F32 at fp32.
	// The residual stream, the patch embedding and the logits stay F32.
	act16 gpu.DType

	w   engineWeights
	act activations

	seqs    map[int]*gpu.Sequence    // plain forward, by batch size
	prof    map[int]*profiled        // timestamped forward, by batch size
	debug   map[int]*gpu.Sequence    // forward that also copies every layer's output
	stream  map[int][2]*gpu.Sequence // ForwardStream's two staging slots, by batch size
	hidden  *gpu.Buffer              // [Layers, maxBatch*T, D], allocated on first debug call
	closers []func()
	// ownsDevice: Close also closes dev (the engine was built by NewEngine).
	ownsDevice bool
}

// engineWeights are the device copies of the weights, in the layouts the
// kernels read: every Linear weight transposed to [in, out] ([K, N]), stored
// as act16 (fp16 at PrecisionFP16); biases, LayerNorm parameters and the
// token and position embeddings stay fp32.
type engineWeights struct {
	patchW, patchB, special, pos *gpu.Buffer
	layers                       []layerBuffers
	normG, normB                 *gpu.Buffer
	headW, headB                 *gpu.Buffer // [H*D, L] and [L], H = Config.HeadTokens
}

type layerBuffers struct {
	ln1G, ln1B, qkvW, qkvB, projW, projB, ln2G, ln2B, fc1W, fc1B, fc2W, fc2B *gpu.Buffer
}

// activations are the per-forward buffers, sized for maxBatch images.
type activations struct {
	pixels  *gpu.Buffer // [B, C, H, W]
	patches *gpu.Buffer // [B*N, C*P*P]
	emb     *gpu.Buffer // [B*N, D]
	x, x2   *gpu.Buffer // [B*T, D] residual stream (ping-pong)
	ln      *gpu.Buffer // [B*T, D]
	qkv     *gpu.Buffer // [B*T, 3D]
	att     *gpu.Buffer // [B*T, D]
	mlp     *gpu.Buffer // [B*T, M]
	tok     *gpu.Buffer // [B*H, D] the rows of the last layer the head reads
	tokN    *gpu.Buffer // [B*H, D] after the final LayerNorm
	logits  *gpu.Buffer // [B, L]
	stageIn *gpu.Buffer // host-visible staging (nil on unified-memory devices)
	stageOu *gpu.Buffer
	// stage2 is ForwardStream's second staging slot, allocated on first use.
	stage2 staging
}

// staging is a pair of host-visible buffers a recorded forward copies its
// input from and its logits to (devices without unified memory only).
type staging struct{ in, out *gpu.Buffer }

// DispatchTime is one recorded dispatch's GPU time, read from timestamps.
type DispatchTime struct {
	Kernel string  // "matmul", "attention", "layernorm", "patchify", "tokens", "gather"
	Label  string  // the dispatch within the network, e.g. "layer3.fc1"
	Nanos  float64 // GPU time of the dispatch
	FLOPs  float64 // floating-point operations it performs (0 for glue kernels)
}

type dispatchInfo struct {
	kernel, label string
	flops         float64
}

type profiled struct {
	seq   *gpu.Sequence
	infos []dispatchInfo
}

// GPUEngineOptions are the optional settings of NewGPUEngineWith.
type GPUEngineOptions struct {
	// Precision is the arithmetic the engine runs at (default fp32, the
	// bit-faithful fp32 kernels; see gpu.Precision and docs/precision.md).
	// fp16 on a device without fp16 support is an error wrapping
	// gpu.ErrUnsupported; auto picks per device.
	Precision gpu.Precision
}

// NewGPUEngine uploads m's weights to d and allocates activations for up to
// maxBatch images, at fp32. An error wrapping gpu.ErrOutOfMemory means the
// device cannot hold that batch: try a smaller one.
func NewGPUEngine(d *gpu.Device, m *Model, maxBatch int) (*GPUEngine, error) {
	return NewGPUEngineWith(d, m, maxBatch, GPUEngineOptions{})
}

// NewGPUEngineWith is NewGPUEngine with options: the precision.
func NewGPUEngineWith(d *gpu.Device, m *Model, maxBatch int, opts GPUEngineOptions) (*GPUEngine, error) {
	if maxBatch < 1 {
		return nil, fmt.Errorf("deit: engine: batch size %d, want at least 1", maxBatch)
	}
	if m == nil {
		return nil, errors.New("deit: engine: nil model")
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("deit: engine: config: %w", err)
	}
	// Weights of the wrong length would index out of range while being
	// transposed for upload.
	if err := m.Weights.check(m.Config); err != nil {
		return nil, fmt.Errorf("deit: engine: %w", err)
	}
	if d == nil {
		return nil, errors.New("deit: engine: nil device")
	}
	prec, err := opts.Precision.Resolve(d.Info())
	if err != nil {
		return nil, fmt.Errorf("deit: engine: %w", err)
	}
	ops, err := gpu.NewOps(d)
	if err != nil {
		return nil, fmt.Errorf("deit: engine: %w", err)
	}
	act16 := gpu.F32
	if prec == gpu.PrecisionFP16 {
		act16 = gpu.F16
	}
	e := &GPUEngine{
		dev: d, ops: ops, cfg: m.Config, maxBatch: maxBatch, prec: prec, act16: act16,
		seqs: map[int]*gpu.Sequence{}, prof: map[int]*profiled{}, debug: map[int]*gpu.Sequence{},
		stream: map[int][2]*gpu.Sequence{},
	}
	if err := e.upload(m.Weights); err != nil {
		e.Close()
		return nil, fmt.Errorf("deit: engine: uploading weights: %w", err)
	}
	if err := e.allocate(); err != nil {
		e.Close()
		return nil, fmt.Errorf("deit: engine: activations for batch %d: %w", maxBatch, err)
	}
	return e, nil
}

// MaxBatch is the largest batch Forward accepts.
func (e *GPUEngine) MaxBatch() int { return e.maxBatch }

// Device describes the device the engine runs on.
func (e *GPUEngine) Device() gpu.DeviceInfo { return e.dev.Info() }

// Config is the model configuration the engine was built for.
func (e *GPUEngine) Config() Config { return e.cfg }

// Precision is the precision the engine runs at: PrecisionFP32 or
// PrecisionFP16 (what GPUEngineOptions.Precision resolved to on this device).
func (e *GPUEngine) Precision() gpu.Precision { return e.prec }

// CoopMat reports whether the engine's fp16 products run on cooperative
// matrices (tensor cores), and of which shape.
func (e *GPUEngine) CoopMat() (gpu.CoopMatShape, bool) {
	s, ok := e.ops.CoopMat()
	return s, ok && e.prec == gpu.PrecisionFP16
}

// Arithmetic implements Engine: "fp32", "fp16", or "fp16+coopmat 16x16x16".
func (e *GPUEngine) Arithmetic() string {
	if s, ok := e.CoopMat(); ok {
		return fmt.Sprintf("fp16+coopmat %dx%dx%d", s.M, s.N, s.K)
	}
	return e.prec.String()
}

// Close releases the engine's sequences and buffers. The device stays open,
// unless the engine was built by NewEngine, which opened it.
func (e *GPUEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.seqs {
		s.Close()
	}
	for _, p := range e.prof {
		p.seq.Close()
	}
	for _, s := range e.debug {
		s.Close()
	}
	for _, pair := range e.stream {
		for _, s := range pair {
			if s != nil {
				s.Close()
			}
		}
	}
	e.seqs, e.prof, e.debug, e.stream = nil, nil, nil, nil
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
	if e.ownsDevice {
		e.ownsDevice = false
		return e.dev.Close()
	}
	return nil
}

// Forward classifies B preprocessed images (pixels is [B, C, H, W] float32,
// as imageio.Preprocessor.Apply makes them) and returns the logits [B, L].
func (e *GPUEngine) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seq, err := e.sequence(e.seqs, B, false)
	if err != nil {
		return nil, err
	}
	return e.run(ctx, seq, pixels, B)
}

// Profile runs one forward on a separately recorded sequence with a
// timestamp around every dispatch, and returns the logits and the GPU time
// of each dispatch in recording order.
func (e *GPUEngine) Profile(ctx context.Context, pixels []float32, B int) ([]float32, []DispatchTime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.prof == nil {
		return nil, nil, errClosed
	}
	p, ok := e.prof[B]
	if !ok {
		if err := e.checkBatch(B); err != nil {
			return nil, nil, err
		}
		seq, err := e.dev.NewSequence(true)
		if err != nil {
			return nil, nil, fmt.Errorf("deit: engine: %w", err)
		}
		infos, err := e.record(seq, B, false)
		if err != nil {
			seq.Close()
			return nil, nil, err
		}
		p = &profiled{seq: seq, infos: infos}
		e.prof[B] = p
	}
	logits, err := e.run(ctx, p.seq, pixels, B)
	if err != nil {
		return nil, nil, err
	}
	ts, err := p.seq.Timings()
	if err != nil {
		return nil, nil, fmt.Errorf("deit: engine: %w", err)
	}
	if len(ts) != len(p.infos) {
		return nil, nil, fmt.Errorf("deit: engine: %d timings for %d dispatches", len(ts), len(p.infos))
	}
	out := make([]DispatchTime, len(ts))
	for i, t := range ts {
		in := p.infos[i]
		out[i] = DispatchTime{Kernel: in.kernel, Label: in.label, Nanos: t.Nanos, FLOPs: in.flops}
	}
	return logits, out, nil
}

// ForwardHidden is Forward that also returns the residual stream after every
// encoder layer ([Layers][B*T*D]), for checking the GPU layer by layer
// against the CPU reference. It records its own sequence; Forward stays lean.
func (e *GPUEngine) ForwardHidden(ctx context.Context, pixels []float32, B int) ([]float32, [][]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.debug == nil {
		return nil, nil, errClosed
	}
	if err := e.checkBatch(B); err != nil {
		return nil, nil, err
	}
	if e.hidden == nil {
		n := int64(e.cfg.Layers) * int64(e.maxBatch*e.cfg.Tokens()*e.cfg.Hidden) * 4
		b, err := e.newBuffer(n)
		if err != nil {
			return nil, nil, fmt.Errorf("deit: engine: hidden-state buffer: %w", err)
		}
		e.hidden = b
	}
	seq, err := e.sequence(e.debug, B, true)
	if err != nil {
		return nil, nil, err
	}
	logits, err := e.run(ctx, seq, pixels, B)
	if err != nil {
		return nil, nil, err
	}
	per := B * e.cfg.Tokens() * e.cfg.Hidden
	hidden := make([][]float32, e.cfg.Layers)
	for l := range hidden {
		hidden[l] = make([]float32, per)
		if err := e.dev.Read(e.hidden, int64(l)*int64(per)*4, hidden[l]); err != nil {
			return nil, nil, fmt.Errorf("deit: engine: reading layer %d: %w", l, err)
		}
	}
	return logits, hidden, nil
}

// errClosed is returned by every GPUEngine method called after Close.
var errClosed = errors.New("deit: engine: used after Close")

func (e *GPUEngine) checkBatch(B int) error {
	if B < 1 || B > e.maxBatch {
		return fmt.Errorf("deit: engine: batch %d outside 1..%d (the engine's maximum batch)", B, e.maxBatch)
	}
	return nil
}

// sequence returns the recorded sequence for batch B from cache, recording
// it on first use.
func (e *GPUEngine) sequence(cache map[int]*gpu.Sequence, B int, keepHidden bool) (*gpu.Sequence, error) {
	if cache == nil {
		return nil, errClosed
	}
	if s, ok := cache[B]; ok {
		return s, nil
	}
	if err := e.checkBatch(B); err != nil {
		return nil, err
	}
	s, err := e.dev.NewSequence(false)
	if err != nil {
		return nil, fmt.Errorf("deit: engine: %w", err)
	}
	if _, err := e.record(s, B, keepHidden); err != nil {
		s.Close()
		return nil, err
	}
	cache[B] = s
	return s, nil
}

// run writes the input, replays seq once and reads the logits back.
func (e *GPUEngine) run(ctx context.Context, seq *gpu.Sequence, pixels []float32, B int) ([]float32, error) {
	c := e.cfg
	if err := c.checkPixels(pixels, B); err != nil {
		return nil, fmt.Errorf("deit: engine: %w", err)
	}
	in, out := e.act.pixels, e.act.logits
	if e.act.stageIn != nil {
		in, out = e.act.stageIn, e.act.stageOu
	}
	if err := e.dev.Write(in, 0, pixels); err != nil {
		return nil, fmt.Errorf("deit: engine: writing input: %w", err)
	}
	if err := seq.Run(ctx); err != nil {
		return nil, fmt.Errorf("deit: engine: %w", err)
	}
	logits := make([]float32, B*c.NumLabels)
	if err := e.dev.Read(out, 0, logits); err != nil {
		return nil, fmt.Errorf("deit: engine: reading logits: %w", err)
	}
	return logits, nil
}

// record appends the whole forward for batch B to s and finishes it. It
// returns what each dispatch is, in recording order, for Profile.
func (e *GPUEngine) record(s *gpu.Sequence, B int, keepHidden bool) ([]dispatchInfo, error) {
	return e.recordStaged(s, B, keepHidden, staging{e.act.stageIn, e.act.stageOu})
}

// recordStaged is record with the staging buffers given (ForwardStream's
// second slot).
func (e *GPUEngine) recordStaged(s *gpu.Sequence, B int, keepHidden bool, st staging) ([]dispatchInfo, error) {
	var infos []dispatchInfo
	if err := e.recordInto(s, B, keepHidden, st, &infos); err != nil {
		return nil, err
	}
	return infos, nil
}

func (e *GPUEngine) recordInto(s *gpu.Sequence, B int, keepHidden bool, st staging, infos *[]dispatchInfo) error {
	c, a, w, o := e.cfg, &e.act, &e.w, e.ops
	D, T, S, M, L := c.Hidden, c.Tokens(), c.Special(), c.MLP, c.NumLabels
	N, P := c.Patches(), c.PatchSize
	K := c.Channels * P * P
	rows := B * T
	h := e.act16 // the fp16-able activations and the matmul weights
	f32 := func(n int) int64 { return int64(n) * 4 }
	// rd and wr bind the first n floats of a buffer: every dispatch names
	// only the range it touches, so the hazard tracker sees exact ranges.
	rd := func(b *gpu.Buffer, n int) gpu.Arg { return gpu.R(b).Range(0, f32(n)) }
	wr := func(b *gpu.Buffer, n int) gpu.Arg { return gpu.W(b).Range(0, f32(n)) }
	// rdT and wrT are rd and wr for n values of type t.
	rdT := func(b *gpu.Buffer, n int, t gpu.DType) gpu.Arg { return gpu.R(b).Range(0, int64(n)*t.Size()).As(t) }
	wrT := func(b *gpu.Buffer, n int, t gpu.DType) gpu.Arg { return gpu.W(b).Range(0, int64(n)*t.Size()).As(t) }
	note := func(kernel, label string, flops float64) {
		*infos = append(*infos, dispatchInfo{kernel, label, flops})
	}
	// mmT records out = in·wt + bias (+ resid): in and wt of type inT, out
	// of type outT; resid is fp32. mm is mmT with the engine's type h.
	mmT := func(label string, out *gpu.Buffer, outT gpu.DType, in *gpu.Buffer, inT gpu.DType, wt, bias, resid *gpu.Buffer, m, n, k int, ep gpu.Epilogue) error {
		r := gpu.Arg{}
		if resid != nil {
			r = rd(resid, m*n)
		}
		note("matmul", label, 2*float64(m)*float64(n)*float64(k))
		if err := o.Matmul(s, wrT(out, m*n, outT), rdT(in, m*k, inT), gpu.R(wt).As(inT), gpu.R(bias), r, m, n, k, ep); err != nil {
			return fmt.Errorf("deit: engine: recording %s: %w", label, err)
		}
		return nil
	}
	mm := func(label string, out *gpu.Buffer, outT gpu.DType, in *gpu.Buffer, wt, bias, resid *gpu.Buffer, m, n, k int, ep gpu.Epilogue) error {
		return mmT(label, out, outT, in, h, wt, bias, resid, m, n, k, ep)
	}
	// lnT records out (type outT) = LayerNorm(in) over n fp32 rows; ln is
	// lnT with the engine's type h.
	lnT := func(label string, out *gpu.Buffer, outT gpu.DType, in, g, b *gpu.Buffer, n int) error {
		note("layernorm", label, 0)
		if err := o.LayerNorm(s, wrT(out, n*D, outT), rd(in, n*D), gpu.R(g), gpu.R(b), n, D, c.Eps); err != nil {
			return fmt.Errorf("deit: engine: recording %s: %w", label, err)
		}
		return nil
	}
	ln := func(label string, out, in, g, b *gpu.Buffer, n int) error { return lnT(label, out, h, in, g, b, n) }

	if st.in != nil {
		if err := s.Copy(wr(a.pixels, B*c.Channels*c.ImageSize*c.ImageSize), rd(st.in, B*c.Channels*c.ImageSize*c.ImageSize)); err != nil {
			return fmt.Errorf("deit: engine: recording input copy: %w", err)
		}
	}
	note("patchify", "patchify", 0)
	if err := o.Patchify(s, wrT(a.patches, B*N*K, h), rd(a.pixels, B*c.Channels*c.ImageSize*c.ImageSize),
		B, c.Channels, c.ImageSize, c.ImageSize, P); err != nil {
		return fmt.Errorf("deit: engine: recording patchify: %w", err)
	}
	if err := mm("patch_embed", a.emb, gpu.F32, a.patches, w.patchW, w.patchB, nil, B*N, D, K, gpu.EpilogueNone); err != nil {
		return err
	}
	note("tokens", "tokens", 0)
	if err := o.Tokens(s, wr(a.x, rows*D), rd(a.emb, B*N*D), gpu.R(w.special), gpu.R(w.pos), B, T, S, D); err != nil {
		return fmt.Errorf("deit: engine: recording tokens: %w", err)
	}
	scale := float32(1 / math.Sqrt(float64(c.HeadDim())))
	for i, lw := range w.layers {
		p := fmt.Sprintf("layer%d.", i)
		if err := ln(p+"ln1", a.ln, a.x, lw.ln1G, lw.ln1B, rows); err != nil {
			return err
		}
		if err := mm(p+"qkv", a.qkv, h, a.ln, lw.qkvW, lw.qkvB, nil, rows, 3*D, D, gpu.EpilogueNone); err != nil {
			return err
		}
		note("attention", p+"attention", 4*float64(B)*float64(T)*float64(T)*float64(D))
		if err := o.Attention(s, wrT(a.att, rows*D, h), rdT(a.qkv, rows*3*D, h), B, T, c.Heads, c.HeadDim(), scale); err != nil {
			return fmt.Errorf("deit: engine: recording %sattention: %w", p, err)
		}
		if err := mm(p+"proj", a.x2, gpu.F32, a.att, lw.projW, lw.projB, a.x, rows, D, D, gpu.EpilogueResidual); err != nil {
			return err
		}
		if err := ln(p+"ln2", a.ln, a.x2, lw.ln2G, lw.ln2B, rows); err != nil {
			return err
		}
		if err := mm(p+"fc1", a.mlp, h, a.ln, lw.fc1W, lw.fc1B, nil, rows, M, D, gpu.EpilogueGELU); err != nil {
			return err
		}
		if err := mm(p+"fc2", a.x, gpu.F32, a.mlp, lw.fc2W, lw.fc2B, a.x2, rows, D, M, gpu.EpilogueResidual); err != nil {
			return err
		}
		if keepHidden {
			per := f32(rows * D)
			dst := gpu.W(e.hidden).Range(int64(i)*per, per)
			if err := s.Copy(dst, rd(a.x, rows*D)); err != nil {
				return fmt.Errorf("deit: engine: recording %shidden copy: %w", p, err)
			}
		}
	}
	// Only the special tokens reach the heads, and LayerNorm is per row, so
	// normalize just those rows.
	note("gather", "gather", 0)
	H := c.HeadTokens()
	if err := o.GatherRows(s, wr(a.tok, B*H*D), rd(a.x, rows*D), B, T, H, D); err != nil {
		return fmt.Errorf("deit: engine: recording gather: %w", err)
	}
	// The head stays fp32 at every precision: its embeddings are an output
	// (ForwardEmbeddings) and its product is a sliver of the work.
	if err := lnT("final_norm", a.tokN, gpu.F32, a.tok, w.normG, w.normB, B*H); err != nil {
		return err
	}
	// One product serves both heads: [cls | dist] · [½W_cls ; ½W_dist] + ½(b_cls + b_dist).
	if err := mmT("head", a.logits, gpu.F32, a.tokN, gpu.F32, w.headW, w.headB, nil, B, L, H*D, gpu.EpilogueNone); err != nil {
		return err
	}
	if st.out != nil {
		if err := s.Copy(wr(st.out, B*L), rd(a.logits, B*L)); err != nil {
			return fmt.Errorf("deit: engine: recording output copy: %w", err)
		}
	}
	if err := s.Finish(); err != nil {
		return fmt.Errorf("deit: engine: %w", err)
	}
	return nil
}

// Name implements Engine: the Vulkan device, and a warning in the name
// itself when it is a CPU driver such as lavapipe; below fp32 also the
// precision (Kernels, e.g. ", fp16+coopmat 16x16x16").
func (e *GPUEngine) Name() string {
	info := e.dev.Info()
	prec := ""
	if e.prec != gpu.PrecisionFP32 {
		prec = ", " + e.Arithmetic()
	}
	if info.Type == gpu.DeviceCPU {
		return fmt.Sprintf("vulkan %s (a CPU Vulkan driver: CPU speed)%s", info.Name, prec)
	}
	return fmt.Sprintf("vulkan %s (%s GPU)%s", info.Name, info.Type, prec)
}

// ForwardEmbeddings implements Engine: Forward, then the normalized
// head-token rows the head read, copied back from the device.
func (e *GPUEngine) ForwardEmbeddings(ctx context.Context, pixels []float32, B int) ([]float32, []float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seq, err := e.sequence(e.seqs, B, false)
	if err != nil {
		return nil, nil, err
	}
	logits, err := e.run(ctx, seq, pixels, B)
	if err != nil {
		return nil, nil, err
	}
	emb := make([]float32, B*e.cfg.HeadTokens()*e.cfg.Hidden)
	if err := e.dev.Read(e.act.tokN, 0, emb); err != nil {
		return nil, nil, fmt.Errorf("deit: engine: reading embeddings: %w", err)
	}
	return logits, emb, nil
}
