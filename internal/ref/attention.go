package ref

import (
	"math"

	"github.com/vkdeit/vkdeit/internal/par"
)

// Attention is the twin of the attention kernels: for every image b, head h
// and query t, softmax_u(scale·q·k_u)·V with the maximum subtracted before
// exp. q, k and v start at head 0's first column and hold row i of image b
// at offset (b·T+i)·stride, head h in columns [h·Dh, (h+1)·Dh): a fused
// [B·T, 3·H·Dh] QKV buffer is q = qkv, k = qkv[H·Dh:], v = qkv[2·H·Dh:] with
// stride 3·H·Dh; separate Q, K, V use stride H·Dh. The result is [B·T, H·Dh]
// with the heads merged the same way.
func Attention(q, k, v []float32, stride, B, T, H, Dh int, scale float64) []float64 {
	D := H * Dh
	out := make([]float64, B*T*D)
	par.Rows(B*T, func(lo, hi int) {
		qr := make([]float64, Dh)
		p := make([]float64, T)
		for row := lo; row < hi; row++ {
			b := row / T
			for h := range H {
				probs(p, qr, q[row*stride+h*Dh:], k[b*T*stride+h*Dh:], stride, scale)
				acc := out[row*D+h*Dh:][:Dh]
				for u := range T {
					for e, vv := range v[(b*T+u)*stride+h*Dh:][:Dh] {
						acc[e] += p[u] * float64(vv)
					}
				}
			}
		}
	})
	return out
}

// probs writes one query's attention probabilities over len(p) keys to p:
// softmax_u(scale·q·k_u) with the maximum subtracted before exp, in
// float64. q holds the query's len(qr) values (qr is scratch of that
// length); key u starts at k[u·stride].
func probs(p, qr []float64, q, k []float32, stride int, scale float64) {
	for e := range qr {
		qr[e] = float64(q[e])
	}
	mx := math.Inf(-1)
	for u := range p {
		p[u] = dot(qr, k[u*stride:][:len(qr)]) * scale
		mx = math.Max(mx, p[u])
	}
	var sum float64
	for u := range p {
		p[u] = math.Exp(p[u] - mx)
		sum += p[u]
	}
	for u := range p {
		p[u] /= sum
	}
}

// dot is Σ a[i]·b[i] in float64. Four partial sums only shorten the
// dependency chain; every product and sum is still a float64 operation.
func dot(a []float64, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * float64(b[i])
		s1 += a[i+1] * float64(b[i+1])
		s2 += a[i+2] * float64(b[i+2])
		s3 += a[i+3] * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += a[i] * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}
