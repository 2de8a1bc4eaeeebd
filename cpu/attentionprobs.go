package cpu

// AttentionProbs writes the attention probabilities of B sequences of T
// tokens: for image b, head h and query t,
//
//	out[((b·H + h)·T + t)·T + u] = softmax_u(scale·q·k_u)
//
// computed as Attention computes them before its product with V (the same
// score micro-kernel and vectorized softmax, so the same bits), with qkv
// the fused [B·T, 3·H·Dh] projection Attention reads. out is [B, H, T, T]
// and must not overlap qkv. It exists for explanations (attention maps),
// which need the matrices Attention never stores.
func (k *Kernels) AttentionProbs(out, qkv []float32, B, T, H, Dh int, scale float32) error {
	return k.attend(out, qkv, B, T, H, Dh, scale, false, true)
}
