package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// GPU runs a model's plan on a Vulkan device. The weights are uploaded once,
// the activation buffers are allocated once for MaxBatch images, and the
// plan is recorded once per batch size as one command buffer (one dispatch
// per step) that every later call with that batch size replays with a
// single submit and wait.
//
// A GPU engine is safe for concurrent use: calls are serialized internally,
// because all batch sizes share one set of activation buffers.
type GPU struct {
	mu       sync.Mutex
	dev      *gpu.Device
	ops      *gpu.Ops
	plan     *deit.Plan
	maxBatch int
	prec     deit.Precision // resolved: fp32 or fp16
	// narrow is the element type of the values the plan marks Narrow
	// (Value.Narrow) and of the weights of the products that read them:
	// F16 at fp16, F32 at fp32.
	narrow gpu.DType

	params []gpuParams // per plan step
	// vals are the activations for maxBatch images; a value only optional
	// steps write (deit.Plan.Optional) is allocated when a recording first
	// runs such a step.
	vals [deit.NumValues]*gpu.Buffer
	// stage holds, on devices without host-visible device memory, the
	// host-visible buffers a recording copies its input from and its logits
	// to: slot 0 for every call, slot 1 (allocated on first use) for
	// ForwardStream's overlap.
	stage [2]staging
	taps  map[deit.Tap]*gpu.Buffer // copies of taps later steps overwrite, allocated on first use

	seqs    map[recording]*gpu.Sequence
	closers []func()
	closed  bool
	// ownsDevice: Close also closes dev (the engine was built by New).
	ownsDevice bool
}

// gpuParams are one step's weights on the device, in the layouts the
// kernels read (a Linear's weight transposed to [K, N], of the type of its
// input value).
type gpuParams struct {
	w, b *gpu.Buffer // Linear: weight and bias; LayerNorm: gamma and beta; Tokens: special and pos
}

// staging is a pair of host-visible buffers a recorded forward copies its
// input from and its logits to.
type staging struct{ in, out *gpu.Buffer }

// recording is what distinguishes two recorded sequences of the plan.
type recording struct {
	B     int
	taps  deit.Tap // taps copied out during the pass
	runs  deit.Tap // taps whose optional steps the pass runs
	timed bool     // a timestamp around every dispatch (Profile)
	slot  int      // staging slot
}

// GPUOptions are the optional settings of NewGPU.
type GPUOptions struct {
	// Precision is the arithmetic: fp32 (the default, the bit-faithful fp32
	// kernels), fp16 (needs the device's 16-bit storage and arithmetic; an
	// error wrapping gpu.ErrUnsupported without them), or auto: fp16 on a
	// GPU with cooperative matrices or fp16, fp32 on CPU Vulkan drivers
	// (lavapipe's fp16 conversions made the whole model slower than fp32,
	// and its cooperative matrices are lowered to scalar code). See
	// docs/precision.md.
	Precision deit.Precision
}

// gpuPrecisions are the precisions the GPU engine runs (fp16 where the
// device has it).
var gpuPrecisions = []deit.Precision{deit.FP32, deit.FP16}

// resolvePrecision is what p means on a device: never Auto.
func resolvePrecision(p deit.Precision, info gpu.DeviceInfo) (deit.Precision, error) {
	if err := p.Supported("gpu engine", gpuPrecisions...); err != nil {
		return 0, err
	}
	switch p {
	case deit.FP16:
		if !info.FP16() {
			return 0, fmt.Errorf("precision fp16: %s lacks shaderFloat16 or storageBuffer16BitAccess: %w", info.Name, gpu.ErrUnsupported)
		}
	case deit.Auto:
		if info.Type != gpu.DeviceCPU && (info.CoopMat || info.FP16()) {
			return deit.FP16, nil
		}
		return deit.FP32, nil
	}
	return p, nil
}

// NewGPU uploads m's weights to d and allocates activations for up to
// maxBatch images. An error wrapping gpu.ErrOutOfMemory means the device
// cannot hold that batch: try a smaller one.
func NewGPU(d *gpu.Device, m *deit.Model, maxBatch int, opts GPUOptions) (*GPU, error) {
	if maxBatch < 1 {
		return nil, fmt.Errorf("engine: gpu: batch size %d, want at least 1", maxBatch)
	}
	if d == nil {
		return nil, errors.New("engine: gpu: nil device")
	}
	plan, err := deit.NewPlan(m)
	if err != nil {
		return nil, fmt.Errorf("engine: gpu: %w", err)
	}
	if err := opts.Precision.Supported("gpu engine", gpuPrecisions...); err != nil {
		return nil, fmt.Errorf("engine: %w", err) // the message names the engine
	}
	prec, err := resolvePrecision(opts.Precision, d.Info())
	if err != nil {
		return nil, fmt.Errorf("engine: gpu: %w", err)
	}
	ops, err := gpu.NewOps(d)
	if err != nil {
		return nil, fmt.Errorf("engine: gpu: %w", err)
	}
	narrow := gpu.F32
	if prec == deit.FP16 {
		narrow = gpu.F16
	}
	e := &GPU{
		dev: d, ops: ops, plan: plan, maxBatch: maxBatch, prec: prec, narrow: narrow,
		taps: map[deit.Tap]*gpu.Buffer{}, seqs: map[recording]*gpu.Sequence{},
	}
	if err := e.upload(); err != nil {
		e.Close()
		return nil, fmt.Errorf("engine: gpu: uploading weights: %w", err)
	}
	if err := e.allocate(); err != nil {
		e.Close()
		return nil, fmt.Errorf("engine: gpu: activations for batch %d: %w", maxBatch, err)
	}
	return e, nil
}

// MaxBatch implements Engine.
func (e *GPU) MaxBatch() int { return e.maxBatch }

// Device describes the device the engine runs on.
func (e *GPU) Device() gpu.DeviceInfo { return e.dev.Info() }

// Config implements Engine.
func (e *GPU) Config() deit.Config { return e.plan.Config }

// Precision implements Engine: what GPUOptions.Precision resolved to on
// this device, fp32 or fp16.
func (e *GPU) Precision() deit.Precision { return e.prec }

// CoopMat reports whether the engine's fp16 products run on cooperative
// matrices (tensor cores), and of which shape.
func (e *GPU) CoopMat() (gpu.CoopMatShape, bool) {
	s, ok := e.ops.CoopMat()
	return s, ok && e.prec == deit.FP16
}

// Arithmetic implements Engine: "fp32", "fp16", or "fp16+coopmat 16x16x16".
func (e *GPU) Arithmetic() string {
	if s, ok := e.CoopMat(); ok {
		return fmt.Sprintf("fp16+coopmat %dx%dx%d", s.M, s.N, s.K)
	}
	return e.prec.String()
}

// Name implements Engine: the Vulkan device, and a warning in the name
// itself when it is a CPU driver such as lavapipe; below fp32 also the
// arithmetic (e.g. ", fp16+coopmat 16x16x16").
func (e *GPU) Name() string {
	info := e.dev.Info()
	prec := ""
	if e.prec != deit.FP32 {
		prec = ", " + e.Arithmetic()
	}
	if info.Type == gpu.DeviceCPU {
		return fmt.Sprintf("vulkan %s (a CPU Vulkan driver: CPU speed)%s", info.Name, prec)
	}
	return fmt.Sprintf("vulkan %s (%s GPU)%s", info.Name, info.Type, prec)
}

// Close releases the engine's sequences and buffers. The device stays open,
// unless the engine was built by New, which opened it.
func (e *GPU) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.seqs {
		s.Close()
	}
	e.seqs, e.closed = nil, true
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

// errGPUClosed is returned by every GPU engine method called after Close.
var errGPUClosed = errors.New("engine: gpu: used after Close")

// Forward implements Engine.
func (e *GPU) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	out, err := e.Run(ctx, pixels, B, 0)
	if err != nil {
		return nil, err
	}
	return out.Logits, nil
}

// Run implements Engine. A tap that no later step overwrites (the
// embeddings) is read back after the pass; the others (every layer's hidden
// state) are copied aside by a separately recorded sequence, so that
// Forward stays lean.
func (e *GPU) Run(ctx context.Context, pixels []float32, B int, taps deit.Tap) (*Output, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := recording{B: B, taps: e.copiedTaps(taps), runs: e.optionalTaps(taps)}
	seq, err := e.sequence(rec)
	if err != nil {
		return nil, err
	}
	out := &Output{}
	if out.Logits, err = e.run(ctx, seq, pixels, B, 0); err != nil {
		return nil, err
	}
	for _, t := range []deit.Tap{deit.TapHidden, deit.TapEmbeddings, deit.TapAttention} {
		if taps&t == 0 {
			continue
		}
		if err := e.readTap(out, t, B, rec.taps&t != 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Profile implements Profiler: one forward on a separately recorded
// sequence with a timestamp around every dispatch, and the GPU time of each
// step in plan order.
func (e *GPU) Profile(ctx context.Context, pixels []float32, B int) ([]float32, []StepTime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seq, err := e.sequence(recording{B: B, timed: true})
	if err != nil {
		return nil, nil, err
	}
	logits, err := e.run(ctx, seq, pixels, B, 0)
	if err != nil {
		return nil, nil, err
	}
	ts, err := seq.Timings()
	if err != nil {
		return nil, nil, fmt.Errorf("engine: gpu: %w", err)
	}
	var steps []deit.Step // the steps a pass without taps runs, one dispatch each
	for _, s := range e.plan.Steps {
		if s.Info().Runs(0) {
			steps = append(steps, s)
		}
	}
	if len(ts) != len(steps) {
		return nil, nil, fmt.Errorf("engine: gpu: %d timings for %d steps", len(ts), len(steps))
	}
	out := make([]StepTime, len(ts))
	for i, t := range ts {
		si := steps[i].Info()
		out[i] = StepTime{Step: si.Name, Kernel: si.Kernel, Nanos: t.Nanos, FLOPs: steps[i].FLOPs(B)}
	}
	return logits, out, nil
}

// copiedTaps are the taps in taps whose values a later step overwrites, so
// that the recording must copy them aside where they are made.
func (e *GPU) copiedTaps(taps deit.Tap) deit.Tap {
	var copied deit.Tap
	for i, s := range e.plan.Steps {
		si := s.Info()
		if si.Tap&taps != 0 && e.plan.LastWriter(si.Out) != i {
			copied |= si.Tap
		}
	}
	return copied
}

// optionalTaps are the taps in taps that optional steps produce: a
// recording that runs those steps differs from one that does not.
func (e *GPU) optionalTaps(taps deit.Tap) deit.Tap {
	var runs deit.Tap
	for _, s := range e.plan.Steps {
		if si := s.Info(); si.Optional && si.Runs(taps) {
			runs |= si.Tap
		}
	}
	return runs
}

// tapBuffer returns the buffer a copied tap's steps write to, one region of
// maxBatch images per step, allocating it on first use.
func (e *GPU) tapBuffer(t deit.Tap) (*gpu.Buffer, error) {
	if b, ok := e.taps[t]; ok {
		return b, nil
	}
	var n int64
	for _, s := range e.plan.Taps(t) {
		n += int64(e.plan.Len(s.Info().Out, e.maxBatch)) * 4
	}
	b, err := e.newBuffer(n)
	if err != nil {
		return nil, fmt.Errorf("engine: gpu: %v buffer: %w", t, err)
	}
	e.taps[t] = b
	return b, nil
}

// readTap reads tap t of the last pass into out: from its copies when the
// pass copied it aside, else from the value itself.
func (e *GPU) readTap(out *Output, t deit.Tap, B int, copied bool) error {
	var off int64
	for _, s := range e.plan.Taps(t) {
		si := s.Info()
		v := make([]float32, e.plan.Len(si.Out, B))
		src, at := e.vals[si.Out], int64(0)
		if copied {
			src, at = e.taps[t], off
			off += int64(e.plan.Len(si.Out, e.maxBatch)) * 4
		}
		if err := e.dev.Read(src, at, v); err != nil {
			return fmt.Errorf("engine: gpu: reading %s: %w", si.Name, err)
		}
		tapOut(out, t, v)
	}
	return nil
}

// sequence returns the recorded sequence for rec, recording it on first use.
func (e *GPU) sequence(rec recording) (*gpu.Sequence, error) {
	if e.closed {
		return nil, errGPUClosed
	}
	if s, ok := e.seqs[rec]; ok {
		return s, nil
	}
	if err := checkBatch(rec.B, e.maxBatch); err != nil {
		return nil, fmt.Errorf("engine: gpu: %w", err)
	}
	s, err := e.dev.NewSequence(rec.timed)
	if err != nil {
		return nil, fmt.Errorf("engine: gpu: %w", err)
	}
	if err := e.record(s, rec); err != nil {
		s.Close()
		return nil, err
	}
	e.seqs[rec] = s
	return s, nil
}

// run writes the input through staging slot slot, replays seq once and
// reads the logits back.
func (e *GPU) run(ctx context.Context, seq *gpu.Sequence, pixels []float32, B, slot int) ([]float32, error) {
	c := e.plan.Config
	if err := c.CheckPixels(pixels, B); err != nil {
		return nil, fmt.Errorf("engine: gpu: %w", err)
	}
	in, out := e.vals[deit.Pixels], e.vals[deit.Logits]
	if st := e.stage[slot]; st.in != nil {
		in, out = st.in, st.out
	}
	if err := e.dev.Write(in, 0, pixels); err != nil {
		return nil, fmt.Errorf("engine: gpu: writing input: %w", err)
	}
	if err := seq.Run(ctx); err != nil {
		return nil, fmt.Errorf("engine: gpu: %w", err)
	}
	logits := make([]float32, B*c.NumLabels)
	if err := e.dev.Read(out, 0, logits); err != nil {
		return nil, fmt.Errorf("engine: gpu: reading logits: %w", err)
	}
	return logits, nil
}

// dtype is the element type the engine stores value v in.
func (e *GPU) dtype(v deit.Value) gpu.DType {
	if v.Narrow() {
		return e.narrow
	}
	return gpu.F32
}

// record appends the plan for rec to s, one dispatch per step, and
// finishes it. Every dispatch binds only the range of B images it touches,
// so the hazard tracker sees exact ranges.
func (e *GPU) record(s *gpu.Sequence, rec recording) error {
	B, o, p := rec.B, e.ops, e.plan
	// rd and wr bind value v for B images at its element type.
	rd := func(v deit.Value) gpu.Arg {
		t := e.dtype(v)
		return gpu.R(e.vals[v]).Range(0, int64(p.Len(v, B))*t.Size()).As(t)
	}
	wr := func(v deit.Value) gpu.Arg {
		t := e.dtype(v)
		return gpu.W(e.vals[v]).Range(0, int64(p.Len(v, B))*t.Size()).As(t)
	}
	st := e.stage[rec.slot]
	if st.in != nil {
		if err := s.Copy(wr(deit.Pixels), gpu.R(st.in).Range(0, int64(p.Len(deit.Pixels, B))*4)); err != nil {
			return fmt.Errorf("engine: gpu: recording input copy: %w", err)
		}
	}
	tapOff := map[deit.Tap]int64{} // next free byte of each copied tap's buffer
	for i, step := range p.Steps {
		si, w := step.Info(), e.params[i]
		if !si.Runs(rec.runs) {
			continue
		}
		if si.Optional {
			if err := e.allocateValue(si.Out); err != nil {
				return fmt.Errorf("engine: gpu: %s: %w", si.Name, err)
			}
		}
		var err error
		switch st := step.(type) {
		case *deit.Patchify:
			err = o.Patchify(s, wr(si.Out), rd(si.In), B, st.Channels, st.Size, st.Size, st.Patch)
		case *deit.Linear:
			r := gpu.Arg{}
			if st.Epilogue == deit.EpilogueResidual {
				r = rd(st.Resid)
			}
			err = o.Matmul(s, wr(si.Out), rd(si.In), gpu.R(w.w).As(e.dtype(si.In)), gpu.R(w.b), r, B*st.Rows, st.N, st.K, gpuEpilogue(st.Epilogue))
		case *deit.Tokens:
			err = o.Tokens(s, wr(si.Out), rd(si.In), gpu.R(w.w), gpu.R(w.b), B, st.T, st.S, st.D)
		case *deit.LayerNorm:
			err = o.LayerNorm(s, wr(si.Out), rd(si.In), gpu.R(w.w), gpu.R(w.b), B*st.Rows, st.D, st.Eps)
		case *deit.Attention:
			err = o.Attention(s, wr(si.Out), rd(si.In), B, st.T, st.Heads, st.HeadDim, float32(st.Scale))
		case *deit.AttentionProbs:
			err = o.AttentionProbs(s, wr(si.Out), rd(si.In), B, st.T, st.Heads, st.HeadDim, float32(st.Scale))
		case *deit.GatherRows:
			err = o.GatherRows(s, wr(si.Out), rd(si.In), B, st.T, st.Rows, st.D)
		default:
			err = fmt.Errorf("%T not supported", step)
		}
		if err != nil {
			return fmt.Errorf("engine: gpu: recording %s: %w", si.Name, err)
		}
		if t := si.Tap & rec.taps; t != 0 {
			buf, err := e.tapBuffer(t)
			if err != nil {
				return err
			}
			n := int64(p.Len(si.Out, B)) * 4
			if err := s.Copy(gpu.W(buf).Range(tapOff[t], n), rd(si.Out)); err != nil {
				return fmt.Errorf("engine: gpu: recording %s copy: %w", si.Name, err)
			}
			tapOff[t] += int64(p.Len(si.Out, e.maxBatch)) * 4
		}
	}
	if st.out != nil {
		if err := s.Copy(gpu.W(st.out).Range(0, int64(p.Len(deit.Logits, B))*4), rd(deit.Logits)); err != nil {
			return fmt.Errorf("engine: gpu: recording output copy: %w", err)
		}
	}
	if err := s.Finish(); err != nil {
		return fmt.Errorf("engine: gpu: %w", err)
	}
	return nil
}

// gpuEpilogue maps the plan's epilogue to the matmul kernels'.
func gpuEpilogue(ep deit.Epilogue) gpu.Epilogue {
	switch ep {
	case deit.EpilogueGELU:
		return gpu.EpilogueGELU
	case deit.EpilogueResidual:
		return gpu.EpilogueResidual
	}
	return gpu.EpilogueNone
}
