package ref

import "github.com/vkdeit/vkdeit/internal/par"

// AttentionProbs is the twin of the attention-probabilities kernels: for
// every image b, head h and query t the row softmax_u(scale·q·k_u) over the
// T keys, as Attention computes it before multiplying by V. qkv is the fused
// [B·T, 3·H·Dh] projection (q | k | v, head h at columns h·Dh of each
// part); the result is [B, H, T, T]: row (b·H + h)·T + t.
func AttentionProbs(qkv []float32, B, T, H, Dh int, scale float64) []float64 {
	D, stride := H*Dh, 3*H*Dh
	out := make([]float64, B*H*T*T)
	par.Rows(B*T, func(lo, hi int) {
		qr := make([]float64, Dh)
		for row := lo; row < hi; row++ {
			b, t := row/T, row%T
			for h := range H {
				probs(out[((b*H+h)*T+t)*T:][:T], qr, qkv[row*stride+h*Dh:], qkv[b*T*stride+D+h*Dh:], stride, scale)
			}
		}
	})
	return out
}
