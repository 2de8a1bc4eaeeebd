package gpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

// attnF16Cases are the fp16 attention shapes: tails around the query and key
// tiles of every kernel (cooperative-matrix tiles are 16 or 32 rows), DeiT's
// T = 198 with Dh = 64, and a head size the coopmat kernel cannot take (12:
// not a multiple of its shape; it falls back to attention_tiled_f16). Three
// head sizes only: each is a pipeline, and Mesa 26 takes seconds to build
// one.
var attnF16Cases = []attnCase{
	{1, 1, 1, 16}, {2, 7, 3, 64}, {1, 33, 2, 16}, {2, 17, 1, 64}, {1, 20, 2, 12}, {1, 198, 2, 64},
}

// attentionF16Bound is the relative L2 error allowed for fp16 attention on
// fp16 inputs (the twin computes from the same rounded values): the fp32
// bound, the final fp16 rounding of out (≤ ulp16), and for the
// cooperative-matrix kernel the fp16 probabilities P̃ = fp16(exp(s − m)): out
// is the P̃-weighted mean Σ P̃_j v_j / Σ P̃_j, so a relative ulp16 change of
// each weight moves out by at most ulp16·Σ p_j |v_j − out| / Σ p_j, which
// for uncorrelated v is of the order of ulp16·|out| (measured ≤ 0.2·ulp16
// beyond the output rounding): one ulp16 more.
func attentionF16Bound(c attnCase, amp float64, coop bool) float64 {
	b := attentionBound(c.Dh, c.T, amp) + ulp16
	if coop {
		b += ulp16
	}
	return b
}

// TestAttentionF16 runs the fp16-storage attention kernels without
// cooperative matrices, both designs.
func TestAttentionF16(t *testing.T) {
	for _, v := range []gpu.Variant{gpu.VariantRegBlock, gpu.VariantTiled} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			requireFP16(t, e.d)
			e.ops.SetCoopMatForTest(false)
			for i, c := range attnF16Cases {
				checkAttentionF16(t, e, c, uint64(10000+10*i), 2, false)
			}
		})
	}
}

// TestAttentionCoopMat runs attention_coopmat (Q·Kᵀ and P·V on the device's
// coopmat shape), with its default tile and forced ones (more queries and
// keys per tile, a subgroup count that does not divide the tiles).
func TestAttentionCoopMat(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	requireCoopMat(t, e.d)
	cm, _ := e.ops.CoopMat()
	for i, c := range attnF16Cases {
		for _, amp := range []float64{1, 4} {
			checkAttentionF16(t, e, c, uint64(11000+10*i+int(amp)), amp, c.Dh%int(cm.N) == 0 && c.Dh%int(cm.K) == 0)
		}
	}
	sub := e.d.Info().SubgroupSize
	for _, tile := range [][3]uint32{{cm.M, 4 * max(cm.N, cm.K), 3 * sub}, {4 * cm.M, max(cm.N, cm.K), 2 * sub}} {
		t.Run(fmt.Sprintf("tile%v", tile), func(t *testing.T) {
			e.ops.SetCoopAttentionForTest(tile)
			defer e.ops.SetCoopAttentionForTest([3]uint32{})
			for i, c := range []attnCase{{2, 37, 2, 32}} {
				checkAttentionF16(t, e, c, uint64(11500+i), 4, true)
			}
		})
	}
}

// checkAttentionF16 runs fp16 Ops.Attention on random packed QKV in
// [−amp, amp], rounded to fp16, into a NaN-poisoned fp16 output.
func checkAttentionF16(t *testing.T, e *opsEnv, c attnCase, seed uint64, amp float64, coop bool) {
	t.Helper()
	name := fmt.Sprintf("B%d_T%d_H%d_Dh%d_amp%g", c.B, c.T, c.H, c.Dh, amp)
	t.Run(name, func(t *testing.T) {
		t.Logf("seed %d", seed)
		qkv := halves(opsRand(seed, c.B*c.T*3*c.H*c.Dh, -amp, amp))
		scale := 1 / math.Sqrt(float64(c.Dh))
		in := e.uploadTyped(t, qkv, gpu.F16)
		n := c.B * c.T * c.H * c.Dh
		out := e.poisonedTyped(t, n, gpu.F16)
		e.run(t, func(s *gpu.Sequence) error {
			return e.ops.Attention(s, gpu.W(out).As(gpu.F16), gpu.R(in).As(gpu.F16), c.B, c.T, c.H, c.Dh, float32(scale))
		})
		want := ref.Attention(qkv, qkv[c.H*c.Dh:], qkv[2*c.H*c.Dh:], 3*c.H*c.Dh, c.B, c.T, c.H, c.Dh, scale)
		requireOpsClose(t, name, e.downloadTyped(t, out, n, gpu.F16), want, attentionF16Bound(c, amp, coop))
	})
}

func TestAttentionF16RejectsBadTypes(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	b := e.upload(t, make([]float32, 3*2*64))
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorContains(t, e.ops.Attention(s, gpu.W(b), gpu.R(b).As(gpu.F16), 1, 2, 1, 64, 1), "out is f32 but qkv is f16")
	if e.d.Info().FP16() {
		h := gpu.R(b).As(gpu.F16)
		require.ErrorContains(t, e.ops.Attention(s, gpu.W(b).As(gpu.F16), h.Range(4, 0), 1, 2, 1, 64, 1), "8-byte aligned")
	}
}
