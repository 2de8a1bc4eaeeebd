package gpu

import "math"

// The parity bounds the tuner checks each candidate against (relative L2
// error over the rows it checks, against the float64 twin computed from the
// same, already rounded, inputs). The kernel tests use the same functions;
// their derivations are below and in docs/precision.md.

const (
	ulp32 = 1.0 / (1 << 24) // fp32 unit roundoff
	ulp16 = 1.0 / (1 << 11) // fp16 unit roundoff: storing an fp16 result adds at most this
)

// matmulBound is the relative L2 error allowed for a K-term fp32 product.
// Each output is a sequential fp32 sum of K products; with random-sign terms
// its rounding error grows like √K·u (observed ≈ 0.3·√K·u; the worst case
// K·u is never approached), and bias, epilogue and the GELU approximation
// (≤ 1.1e-7 absolute, see shaders/gelu.glsl) add a few u. 2·√K·u + 8·u keeps
// a ≥ 5× margin and is 5.4e-6 at K = 1536, inside the 1e-5 the kernel tests allow.
func matmulBound(K int) float64 { return (2*math.Sqrt(float64(K)) + 8) * ulp32 }

// coopAccFactor widens the fp32 accumulation bound for cooperative
// matrices: the sum over k runs in an order (and, on tensor cores, with an
// alignment of addends) the shader does not control; each addition still
// rounds within 2 fp32 units, at most twice what an IEEE fp32 sum does.
const coopAccFactor = 2

// matmulParityBound is the bound for a product of fp16 (half) or fp32
// inputs with C of type out: the products of two fp16 values are exact in
// fp32, so the fp32 bound applies (times coopAccFactor on cooperative
// matrices), plus one fp16 rounding of C when C is fp16.
func matmulParityBound(K int, out DType, coop bool) float64 {
	b := matmulBound(K)
	if coop {
		b *= coopAccFactor
	}
	if out == F16 {
		b += ulp16
	}
	return b
}

// attentionBound is the relative L2 error allowed for fp32 attention
// (inputs uniform in [−amp, amp], scale = 1/√Dh). Two sources:
//   - the softmax-weighted mean over T keys, exp and the final 1/l: rounding
//     grows like √T·u (observed ≈ 0.3·√T·u);
//   - each score is an fp32 dot of Dh terms, |s| ≈ amp²/3, so it is off by
//     ≈ √Dh·u·amp²/3, and the output moves by Σ p_j·δs_j·(v_j − out), a
//     fraction of that (observed ≲ 0.1×).
//
// (2·√T + 16)·u + √Dh·amp²/6·u keeps a ≥ 4× margin over every observed case.
func attentionBound(Dh, T int, amp float64) float64 {
	return (2*math.Sqrt(float64(T)) + 16 + math.Sqrt(float64(Dh))*amp*amp/6) * ulp32
}

// attentionParityBound is the bound for attention on fp16 (half) or fp32
// data: the fp32 bound; for fp16 the final rounding of out (ulp16) and, on
// cooperative matrices, the fp16 probabilities P̃ = fp16(exp(s − m)): out
// is the P̃-weighted mean, so a relative ulp16 change of each weight moves
// it by at most ulp16·Σ p_j |v_j − out| / Σ p_j, of the order of
// ulp16·|out| (measured ≤ 0.2·ulp16 beyond the output rounding): one ulp16
// more.
func attentionParityBound(Dh, T int, amp float64, half, coop bool) float64 {
	b := attentionBound(Dh, T, amp)
	if half {
		b += ulp16
	}
	if coop {
		b += ulp16
	}
	return b
}
