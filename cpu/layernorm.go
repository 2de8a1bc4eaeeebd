package cpu

import "fmt"

// LayerNorm normalizes each of the rows rows of x [rows, D] as
// torch.nn.LayerNorm(D, eps) does: minus the row mean, divided by
// √(biased variance + eps), times gamma plus beta ([D] each). The assembly
// works in float32 (two passes, so no cancellation from a large mean); y may
// be x but must not partly overlap it.
func (k *Kernels) LayerNorm(y, x, gamma, beta []float32, rows, D int, eps float32) error {
	switch {
	case rows < 0 || D < 1 || rows > maxDim/D:
		return fmt.Errorf("cpu: layernorm: %d rows of %d: out of range", rows, D)
	case len(x) < rows*D || len(y) < rows*D:
		return fmt.Errorf("cpu: layernorm: x has %d and y %d values, want rows×D = %d×%d", len(x), len(y), rows, D)
	case len(gamma) < D || len(beta) < D:
		return fmt.Errorf("cpu: layernorm: gamma has %d and beta %d values, want D = %d", len(gamma), len(beta), D)
	case !(eps >= 0):
		return fmt.Errorf("cpu: layernorm: eps %g must be ≥ 0", eps)
	}
	if rows == 0 {
		return nil
	}
	x, y = x[:rows*D], y[:rows*D]
	if overlaps(x, y) && &x[0] != &y[0] {
		return fmt.Errorf("cpu: layernorm: y partly overlaps x")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errClosed
	}
	j := &k.ln
	*j = layerNormJob{k: k, y: y, x: x, g: gamma[:D], b: beta[:D], D: D, eps: eps,
		per: max(1, min(rows, lnChunk/D))}
	k.pool.do(ceilDiv(rows, j.per), j)
	*j = layerNormJob{}
	return nil
}

// lnChunk is about how many elements one pool item of LayerNorm covers.
const lnChunk = 8 << 10

type layerNormJob struct {
	k          *Kernels
	y, x, g, b []float32
	D, per     int
	eps        float32
}

func (j *layerNormJob) run(_, i int) {
	rows := len(j.x) / j.D
	for r := i * j.per; r < min((i+1)*j.per, rows); r++ {
		j.k.layerNormRow(j.y[r*j.D:(r+1)*j.D], j.x[r*j.D:(r+1)*j.D], j.g, j.b, j.eps)
	}
}

// layerNormRow normalizes one row (all slices of length D, y may be x).
func (k *Kernels) layerNormRow(y, x, g, b []float32, eps float32) {
	n := len(x)
	_, _, _ = y[n-1], g[n-1], b[n-1]
	switch k.isa {
	case AVX512:
		layerNormAVX512(&y[0], &x[0], &g[0], &b[0], n, eps)
	case AVX2:
		layerNormAVX2(&y[0], &x[0], &g[0], &b[0], n, eps, &tailMask)
	case NEON:
		layerNormNEON(&y[0], &x[0], &g[0], &b[0], n, eps)
	default:
		layerNormGeneric(y, x, g, b, eps)
	}
}
