package cpu

import (
	"fmt"
	"math"
)

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
	switch {
	case B < 0 || T < 1 || H < 1 || Dh < 1 || B > maxDim/T || H > maxDim/Dh || B*T > maxDim/(3*H*Dh) || B*H > maxDim/T/T:
		return fmt.Errorf("cpu: attention probabilities: B=%d T=%d H=%d Dh=%d out of range", B, T, H, Dh)
	case len(qkv) < B*T*3*H*Dh:
		return fmt.Errorf("cpu: attention probabilities: qkv has %d values, want B·T·3·H·Dh = %d", len(qkv), B*T*3*H*Dh)
	case len(out) < B*H*T*T:
		return fmt.Errorf("cpu: attention probabilities: out has %d values, want B·H·T·T = %d", len(out), B*H*T*T)
	case !(scale > 0) || math.IsInf(float64(scale), 0):
		return fmt.Errorf("cpu: attention probabilities: scale %g must be positive and finite", scale)
	}
	if B == 0 {
		return nil
	}
	qkv, out = qkv[:B*T*3*H*Dh], out[:B*H*T*T]
	if overlaps(qkv, out) {
		return fmt.Errorf("cpu: attention probabilities: out overlaps qkv")
	}
	return k.attend(out, qkv, B, T, H, Dh, scale, false, true)
}
