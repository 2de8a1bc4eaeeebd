package engine

import (
	"fmt"
	"math"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// newBuffer allocates a device buffer that Close frees.
func (e *GPU) newBuffer(bytes int64) (*gpu.Buffer, error) {
	b, err := e.dev.NewBuffer(bytes)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, b.Free)
	return b, nil
}

// put uploads data into a new device buffer of element type t: fp32 as is,
// fp16 rounded to nearest even.
func (e *GPU) put(name string, data []float32, t gpu.DType) (*gpu.Buffer, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: empty tensor", name)
	}
	b, err := e.newBuffer(int64(len(data)) * t.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if t == gpu.F16 {
		err = e.dev.WriteHalf(b, 0, gpu.ToHalf(data))
	} else {
		err = e.dev.Write(b, 0, data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// transpose turns an nn.Linear weight [out, in] into the [in, out] ([K, N])
// layout the matmul kernels read.
func transpose(w []float32, out, in int) []float32 {
	t := make([]float32, len(w))
	for o := range out {
		for i := range in {
			t[i*out+o] = w[o*in+i]
		}
	}
	return t
}

// upload copies every step's parameters to the device once, in kernel
// layout: a Linear's weight transposed and of its input's element type (so
// fp16 products read fp16 weights), everything else fp32.
func (e *GPU) upload() error {
	e.params = make([]gpuParams, len(e.plan.Steps))
	for i, step := range e.plan.Steps {
		var w, b []float32
		wt := gpu.F32
		switch s := step.(type) {
		case *deit.Linear:
			w, b, wt = transpose(s.W, s.N, s.K), s.Bias, e.dtype(s.In)
		case *deit.LayerNorm:
			w, b = s.Gamma, s.Beta
		case *deit.Tokens:
			w, b = s.Special, s.Pos
		default:
			continue
		}
		name := step.Info().Name
		var err error
		if e.params[i].w, err = e.put(name+" weight", w, wt); err != nil {
			return err
		}
		if e.params[i].b, err = e.put(name+" bias", b, gpu.F32); err != nil {
			return err
		}
	}
	return nil
}

// allocate creates the activation buffers for maxBatch images, and staging
// buffers when the device memory is not host-visible.
func (e *GPU) allocate() error {
	B := int64(e.maxBatch)
	// Every product is checked: maxBatch and the config's sizes come from
	// the user, and a wrapped product would allocate a small buffer.
	var sizes [deit.NumValues]int64
	var largest int64
	for v := range deit.Value(deit.NumValues) {
		if e.plan.Optional(v) {
			continue // allocated by the first recording that runs its steps
		}
		n, err := e.valueBytes(v)
		if err != nil {
			return err
		}
		sizes[v] = n
		largest = max(largest, sizes[v])
	}
	// One binding may cover at most maxStorageBufferRange bytes (128 MiB on
	// lavapipe, several GiB on desktop GPUs); say which batch would fit.
	if limit := e.dev.Info().MaxStorageBufferRange; limit > 0 && largest > limit {
		fit := limit / (largest / B)
		return fmt.Errorf("batch %d needs a %d MiB buffer, above the %d MiB one binding may cover on %s (maxStorageBufferRange); batches up to %d fit: %w",
			B, largest>>20, limit>>20, e.dev.Info().Name, fit, gpu.ErrOutOfMemory)
	}
	for v, n := range sizes {
		if n == 0 {
			continue
		}
		b, err := e.newBuffer(n)
		if err != nil {
			return err
		}
		e.vals[v] = b
	}
	if e.vals[deit.Pixels].Mapped() != nil && e.vals[deit.Logits].Mapped() != nil {
		return nil // unified memory: the host writes and reads the buffers directly
	}
	st, err := e.newStaging()
	if err != nil {
		return err
	}
	e.stage[0] = st
	return nil
}

// valueBytes is the size of value v for maxBatch images, checked: maxBatch
// and the config's sizes come from the user, and a wrapped product would
// allocate a small buffer.
func (e *GPU) valueBytes(v deit.Value) (int64, error) {
	B := int64(e.maxBatch)
	rows, cols := e.plan.Shape(v)
	n, elem := int64(rows)*int64(cols), e.dtype(v).Size()
	if n <= 0 || B > math.MaxInt64/4/n {
		return 0, fmt.Errorf("batch %d: activation sizes overflow 64-bit byte counts: %w", B, gpu.ErrOutOfMemory)
	}
	return B * n * elem, nil
}

// allocateValue allocates the buffer of value v, which only optional steps
// write, unless an earlier recording did.
func (e *GPU) allocateValue(v deit.Value) error {
	if e.vals[v] != nil {
		return nil
	}
	n, err := e.valueBytes(v)
	if err != nil {
		return err
	}
	if limit := e.dev.Info().MaxStorageBufferRange; limit > 0 && n > limit {
		return fmt.Errorf("%v for batch %d need a %d MiB buffer, above the %d MiB one binding may cover on %s (maxStorageBufferRange); batches up to %d fit: %w",
			v, e.maxBatch, n>>20, limit>>20, e.dev.Info().Name, limit/(n/int64(e.maxBatch)), gpu.ErrOutOfMemory)
	}
	b, err := e.newBuffer(n)
	if err != nil {
		return fmt.Errorf("%v buffer: %w", v, err)
	}
	e.vals[v] = b
	return nil
}

// newStaging allocates a pair of host-visible buffers for maxBatch images'
// pixels and logits.
func (e *GPU) newStaging() (staging, error) {
	var st staging
	for _, s := range []struct {
		dst *(*gpu.Buffer)
		v   deit.Value
	}{{&st.in, deit.Pixels}, {&st.out, deit.Logits}} {
		b, err := e.dev.NewStagingBuffer(int64(e.plan.Len(s.v, e.maxBatch)) * 4)
		if err != nil {
			return staging{}, err
		}
		e.closers = append(e.closers, b.Free)
		*s.dst = b
	}
	return st, nil
}
