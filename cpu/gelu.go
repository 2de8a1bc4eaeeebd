package cpu

import "fmt"

// GELU sets dst[i] = GELU(src[i]), the exact (erf) GELU of
// torch.nn.GELU(), with shaders/gelu.glsl's approximation: within
// 1.1e-7 + one float32 rounding of the exact value (plus the vectorized
// exp's few ulps on the erfc branch). dst may be src; both must have the
// same length.
func (k *Kernels) GELU(dst, src []float32) error {
	if len(dst) != len(src) {
		return fmt.Errorf("cpu: gelu: dst has %d values, src %d", len(dst), len(src))
	}
	if len(src) == 0 {
		return nil
	}
	if overlaps(dst, src) && &dst[0] != &src[0] {
		return fmt.Errorf("cpu: gelu: dst partly overlaps src")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errClosed
	}
	g := &k.gelu
	g.k, g.dst, g.src = k, dst, src
	k.pool.do(ceilDiv(len(src), geluChunk), g)
	g.dst, g.src = nil, nil
	return nil
}

// geluChunk is the elements per pool item of GELU.
const geluChunk = 16 << 10

type geluJob struct {
	k        *Kernels
	dst, src []float32
}

func (g *geluJob) run(_, i int) {
	lo, hi := i*geluChunk, min((i+1)*geluChunk, len(g.src))
	g.k.geluRow(g.dst[lo:hi], g.src[lo:hi])
}

// geluRow is GELU on one slice with the kernels' ISA (len(dst) == len(src)).
func (k *Kernels) geluRow(dst, src []float32) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	switch k.isa {
	case AVX512:
		geluAVX512(&dst[0], &src[0], len(src), vecTab)
	case AVX2:
		geluAVX2(&dst[0], &src[0], len(src), vecTab, &tailMask)
	case NEON:
		geluNEON(dst, src)
	default:
		geluGeneric(dst, src)
	}
}
