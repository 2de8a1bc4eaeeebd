package deit

// The engines compute Q, K and V with one product and both heads of a
// distilled model with one product. These build those fused weights in
// nn.Linear layout [out, in]; each engine then lays them out for its
// kernels (the GPU transposes them, the CPU packs them into panels).

// fusedQKV stacks a layer's q, k and v projections into one [3D, D] weight
// and a [3D] bias: output s·D + j·Dh + e is part s (q, k, v) of head j,
// element e — the fused layout the attention kernels read.
func fusedQKV(l *Layer, D int) (w, b []float32) {
	w = make([]float32, 0, 3*D*D)
	w = append(append(append(w, l.QW...), l.KW...), l.VW...)
	b = make([]float32, 0, 3*D)
	b = append(append(append(b, l.QB...), l.KB...), l.VB...)
	return w, b
}

// fusedHead is the single nn.Linear [L, HeadTokens·D] that gives the logits
// from an image's normalized head-token rows laid end to end. A distilled
// model's logits are (cls·W_clsᵀ + b_cls + dist·W_distᵀ + b_dist)/2;
// halving a float32 is exact, so [½W_cls | ½W_dist] changes only the
// summation order.
func fusedHead(c Config, w *Weights) (hw, hb []float32) {
	D, L := c.Hidden, c.NumLabels
	if c.Head != HeadDistilled {
		return w.ClsW, w.ClsB
	}
	hw = make([]float32, L*2*D)
	hb = make([]float32, L)
	for o := range L {
		for i := range D {
			hw[o*2*D+i] = w.ClsW[o*D+i] / 2
			hw[o*2*D+D+i] = w.DistW[o*D+i] / 2
		}
		hb[o] = float32((float64(w.ClsB[o]) + float64(w.DistB[o])) / 2)
	}
	return hw, hb
}
