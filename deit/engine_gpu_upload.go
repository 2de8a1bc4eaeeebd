package deit

import (
	"fmt"
	"math"

	"github.com/vkdeit/vkdeit/gpu"
)

// newBuffer allocates a device buffer that Engine.Close frees.
func (e *GPUEngine) newBuffer(bytes int64) (*gpu.Buffer, error) {
	b, err := e.dev.NewBuffer(bytes)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, b.Free)
	return b, nil
}

// put uploads data into a new device buffer.
func (e *GPUEngine) put(name string, data []float32) (*gpu.Buffer, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: empty tensor", name)
	}
	b, err := e.newBuffer(int64(len(data)) * 4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := e.dev.Write(b, 0, data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// putWeight uploads a matmul weight as the engine's weight type: fp32, or
// rounded to fp16 (round to nearest even) at PrecisionFP16.
func (e *GPUEngine) putWeight(name string, data []float32) (*gpu.Buffer, error) {
	if e.act16 != gpu.F16 {
		return e.put(name, data)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: empty tensor", name)
	}
	b, err := e.newBuffer(int64(len(data)) * 2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := e.dev.WriteHalf(b, 0, gpu.ToHalf(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// transpose turns an nn.Linear weight [out, in] into the [in, out] ([K, N])
// layout the matmul kernel reads.
func transpose(w []float32, out, in int) []float32 {
	t := make([]float32, len(w))
	for o := 0; o < out; o++ {
		for i := 0; i < in; i++ {
			t[i*out+o] = w[o*in+i]
		}
	}
	return t
}

// fuseQKV is fusedQKV in kernel layout [D, 3D] (transposed).
func fuseQKV(l *Layer, D int) (w, b []float32) {
	w, b = fusedQKV(l, D)
	return transpose(w, 3*D, D), b
}

// headWeights is fusedHead in kernel layout [HeadTokens·D, L] (transposed).
func headWeights(c Config, w *Weights) (hw, hb []float32) {
	hw, hb = fusedHead(c, w)
	return transpose(hw, c.NumLabels, c.HeadTokens()*c.Hidden), hb
}

// upload copies every weight to the device once, in kernel layout.
func (e *GPUEngine) upload(w *Weights) error {
	c := e.cfg
	D, M := c.Hidden, c.MLP
	K := c.Channels * c.PatchSize * c.PatchSize
	var err error
	must := func(name string, data []float32) *gpu.Buffer {
		if err != nil {
			return nil
		}
		var b *gpu.Buffer
		b, err = e.put(name, data)
		return b
	}
	// mustW uploads a matmul weight (fp16 at PrecisionFP16).
	mustW := func(name string, data []float32) *gpu.Buffer {
		if err != nil {
			return nil
		}
		var b *gpu.Buffer
		b, err = e.putWeight(name, data)
		return b
	}
	ew := &e.w
	ew.patchW = mustW("patch weight", transpose(w.PatchW, D, K))
	ew.patchB = must("patch bias", w.PatchB)
	ew.special = must("special tokens", w.Special)
	ew.pos = must("position embeddings", w.Pos)
	ew.layers = make([]layerBuffers, len(w.Layers))
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("layer %d ", i)
		qkvW, qkvB := fuseQKV(l, D)
		ew.layers[i] = layerBuffers{
			ln1G: must(p+"ln1 weight", l.LN1G), ln1B: must(p+"ln1 bias", l.LN1B),
			qkvW: mustW(p+"qkv weight", qkvW), qkvB: must(p+"qkv bias", qkvB),
			projW: mustW(p+"proj weight", transpose(l.ProjW, D, D)), projB: must(p+"proj bias", l.ProjB),
			ln2G: must(p+"ln2 weight", l.LN2G), ln2B: must(p+"ln2 bias", l.LN2B),
			fc1W: mustW(p+"fc1 weight", transpose(l.FC1W, M, D)), fc1B: must(p+"fc1 bias", l.FC1B),
			fc2W: mustW(p+"fc2 weight", transpose(l.FC2W, D, M)), fc2B: must(p+"fc2 bias", l.FC2B),
		}
	}
	ew.normG = must("final norm weight", w.NormG)
	ew.normB = must("final norm bias", w.NormB)
	hw, hb := headWeights(c, w)
	ew.headW = must("head weight", hw) // fp32 at every precision (see recordInto)
	ew.headB = must("head bias", hb)
	return err
}

// allocate creates the activation buffers for maxBatch images, and staging
// buffers when the device memory is not host-visible.
func (e *GPUEngine) allocate() error {
	c, B := e.cfg, int64(e.maxBatch)
	D, T, H, M, L := int64(c.Hidden), int64(c.Tokens()), int64(c.HeadTokens()), int64(c.MLP), int64(c.NumLabels)
	N, K := int64(c.Patches()), int64(c.Channels)*int64(c.PatchSize)*int64(c.PatchSize)
	// Every product below is checked: maxBatch and the config's sizes come
	// from the user, and a wrapped product would allocate a small buffer.
	tooBig := false
	prod := func(vals ...int64) int64 {
		p := int64(1)
		for _, v := range vals {
			if v <= 0 || p > math.MaxInt64/4/v {
				tooBig = true
				return 0
			}
			p *= v
		}
		return p
	}
	px := prod(B, int64(c.Channels), int64(c.ImageSize), int64(c.ImageSize))
	// h is the byte size of the activations fp16 stores as fp16.
	h := e.act16.Size()
	sizes := []struct {
		dst  *(*gpu.Buffer)
		n    int64
		elem int64
	}{
		{&e.act.pixels, px, 4}, {&e.act.patches, prod(B, N, K), h}, {&e.act.emb, prod(B, N, D), 4},
		{&e.act.x, prod(B, T, D), 4}, {&e.act.x2, prod(B, T, D), 4}, {&e.act.ln, prod(B, T, D), h},
		{&e.act.qkv, prod(B, T, 3, D), h}, {&e.act.att, prod(B, T, D), h}, {&e.act.mlp, prod(B, T, M), h},
		{&e.act.tok, prod(B, H, D), 4}, {&e.act.tokN, prod(B, H, D), 4}, {&e.act.logits, prod(B, L), 4},
	}
	if tooBig {
		return fmt.Errorf("batch %d: activation sizes overflow 64-bit byte counts: %w", B, gpu.ErrOutOfMemory)
	}
	// One binding may cover at most maxStorageBufferRange bytes (128 MiB on
	// lavapipe, several GiB on desktop GPUs); say which batch would fit.
	if limit := e.dev.Info().MaxStorageBufferRange; limit > 0 {
		var largest int64
		for _, s := range sizes {
			largest = max(largest, s.n*s.elem)
		}
		if largest > limit {
			fit := limit / (largest / B)
			return fmt.Errorf("batch %d needs a %d MiB buffer, above the %d MiB one binding may cover on %s (maxStorageBufferRange); batches up to %d fit: %w",
				B, largest>>20, limit>>20, e.dev.Info().Name, fit, gpu.ErrOutOfMemory)
		}
	}
	for _, s := range sizes {
		b, err := e.newBuffer(s.n * s.elem)
		if err != nil {
			return err
		}
		*s.dst = b
	}
	if e.act.pixels.Mapped() != nil && e.act.logits.Mapped() != nil {
		return nil // unified memory: the host writes and reads the buffers directly
	}
	for _, s := range []struct {
		dst *(*gpu.Buffer)
		n   int64
	}{{&e.act.stageIn, px}, {&e.act.stageOu, B * L}} {
		b, err := e.dev.NewStagingBuffer(s.n * 4)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, b.Free)
		*s.dst = b
	}
	return nil
}
