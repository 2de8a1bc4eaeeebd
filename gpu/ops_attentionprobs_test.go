package gpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

// attnProbsCases are T around the 64-query workgroup, DeiT's T = 198,
// batch > 1 and several heads, and head sizes from one vec4 to the largest
// (256).
var attnProbsCases = []attnCase{
	{1, 1, 1, 4}, {1, 3, 2, 8}, {2, 7, 3, 64}, {1, 63, 1, 64}, {1, 64, 2, 16}, {2, 65, 1, 12},
	{3, 17, 2, 32}, {1, 37, 1, 68}, {1, 15, 1, 128}, {1, 9, 1, 256}, {2, 198, 2, 64},
}

// attentionProbsBound is the relative L2 error allowed for the
// probabilities (inputs uniform in [−amp, amp], scale = 1/√Dh). Each score
// is an fp32 dot of Dh terms off by about √Dh·u·amp²/3, and a shift δ of the
// scores changes p_j by p_j·(δ_j − Σ p_i δ_i): at most twice that,
// relative. exp (of arguments up to 2·√Dh·amp² below the maximum, each
// rounded to a relative u first), the sum of T terms and the division add
// a few u more. (16 + √Dh·amp²)·u keeps a ≥ 2× margin over those.
func attentionProbsBound(Dh int, amp float64) float64 {
	return (16 + math.Sqrt(float64(Dh))*amp*amp) * ulp32
}

// checkAttentionProbs runs Ops.AttentionProbs on random packed QKV in
// [−amp, amp] (rounded to fp16 and stored as such for typ F16) into a
// NaN-poisoned fp32 output and compares it with the float64 twin.
func checkAttentionProbs(t *testing.T, e *opsEnv, c attnCase, seed uint64, amp float64, typ gpu.DType) {
	t.Helper()
	name := fmt.Sprintf("B%d_T%d_H%d_Dh%d_amp%g", c.B, c.T, c.H, c.Dh, amp)
	t.Run(name, func(t *testing.T) {
		qkv := opsRand(seed, c.B*c.T*3*c.H*c.Dh, -amp, amp)
		if typ == gpu.F16 {
			qkv = halves(qkv)
		}
		scale := 1 / math.Sqrt(float64(c.Dh))
		in := e.uploadTyped(t, qkv, typ)
		n := c.B * c.H * c.T * c.T
		out := e.poisoned(t, n)
		e.run(t, func(s *gpu.Sequence) error {
			return e.ops.AttentionProbs(s, gpu.W(out), gpu.R(in).As(typ), c.B, c.T, c.H, c.Dh, float32(scale))
		})
		want := ref.AttentionProbs(qkv, c.B, c.T, c.H, c.Dh, scale)
		requireOpsClose(t, name, e.download(t, out, n), want, attentionProbsBound(c.Dh, amp))
	})
}

func TestAttentionProbs(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	for i, c := range attnProbsCases {
		for _, amp := range []float64{1, 4} {
			checkAttentionProbs(t, e, c, uint64(4000+10*i+int(amp)), amp, gpu.F32)
		}
	}
}

// TestAttentionProbsF16 reads fp16 QKV (the fp16 engine's): the twin
// computes from the same rounded values, and the scores, softmax and output
// stay fp32, so the fp32 bound holds.
func TestAttentionProbsF16(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	requireFP16(t, e.d)
	for i, c := range []attnCase{{1, 1, 1, 16}, {2, 7, 3, 64}, {1, 65, 2, 16}, {1, 198, 2, 64}} {
		checkAttentionProbs(t, e, c, uint64(4500+i), 2, gpu.F16)
	}
}

func TestAttentionProbsRejectsBadArgs(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	b := e.upload(t, make([]float32, 3*2*64))
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorContains(t, e.ops.AttentionProbs(s, gpu.W(b), gpu.R(b), 1, 2, 1, 6, 1), "multiple of 4")
	require.ErrorContains(t, e.ops.AttentionProbs(s, gpu.W(b), gpu.R(b), 1, 0, 1, 64, 1), "positive")
	require.ErrorContains(t, e.ops.AttentionProbs(s, gpu.W(b), gpu.R(b), 2, 2, 1, 64, 1), "qkv holds")
	require.ErrorContains(t, e.ops.AttentionProbs(s, gpu.W(b).Range(0, 12), gpu.R(b), 1, 2, 1, 64, 1), "out holds")
	require.ErrorContains(t, e.ops.AttentionProbs(s, gpu.W(b).As(gpu.F16), gpu.R(b), 1, 2, 1, 64, 1), "out is f16, must be f32")
	require.ErrorContains(t, e.ops.AttentionProbs(s, gpu.W(b), gpu.R(b).Range(4, 0), 1, 2, 1, 64, 1), "16-byte aligned")
	require.ErrorContains(t, e.ops.AttentionProbs(s, gpu.W(b), gpu.R(b), 1, 1<<16, 1<<16, 4, 1), "32-bit indexing")
}
