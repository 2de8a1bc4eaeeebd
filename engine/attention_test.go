package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/internal/fixture/fixturemodel"
)

// fp16AttentionBound is the relative L2 error allowed for an fp16 engine's
// attention probabilities (deit.TapAttention) against the float64
// reference and PyTorch. They are computed in fp32 from fp16 Q and K, each
// rounded once more (≤ 2⁻¹¹ = 4.9e-4 relative) on top of the fp16 error of
// the layer's input, so a score s is off by about |s|·1e-3, and a
// probability by p·(δs − Σ p δs): the error grows with the spread of the
// scores. Measured on lavapipe (Mesa 22.3, plain fp16): 1.2–2.5e-5 on the
// random models (nearly uniform attention), 0.54–1.08e-3 on the PyTorch
// fixtures (scores spanning several units; the second layer, which reads
// the first one's fp16 error too, the larger); on the coopmat lane (Mesa 26,
// 8×8×8 cooperative matrices) 0.54–1.05e-3 on the fixtures. 3e-3 keeps a
// ≥ 2.8× margin;
// a wrong row, head or image gives errors of order 1.
const fp16AttentionBound = 3e-3

// bf16AttentionBound is fp16AttentionBound for the CPU engine's bf16: Q
// and K come from bf16 products of bf16-rounded inputs (2⁻⁸ = 3.9e-3
// relative per rounding, 8× fp16's 2⁻¹¹), so the same derivation gives 8×
// the error: measured 3.6e-3 on the PyTorch fixtures' first layer. 2.4e-2
// is 8× fp16's bound.
const bf16AttentionBound = 8 * fp16AttentionBound

// attentionBound is the relative L2 error allowed for tc's attention
// probabilities: fp32 engines hold fp32Bound (a float32 dot product of Dh
// terms and a float32 softmax: at most 3.5e-7 against the reference and
// 6.9e-7 against PyTorch measured), fp16 ones fp16AttentionBound, bf16
// ones bf16AttentionBound.
func attentionBound(tc engineCase) float64 {
	switch {
	case tc.bound > fp16LogitsBound:
		return bf16AttentionBound
	case tc.bound > fp32Bound:
		return fp16AttentionBound
	}
	return fp32Bound
}

// requireAttention checks every layer's probabilities against want, [B,
// Heads, T, T] per layer.
func requireAttention[T float32 | float64](t *testing.T, got [][]float32, want [][]T, bound float64) {
	t.Helper()
	require.Len(t, got, len(want), "layers")
	for l := range want {
		w := make([]float64, len(want[l]))
		for i, v := range want[l] {
			w[i] = float64(v)
		}
		fixture.RequireRelL2(t, fmt.Sprintf("layer %d attention", l), got[l], w, bound)
	}
}

// TestEnginesAttentionMatchReference runs every engine with TapAttention
// on the random models (every head kind, odd geometries, 578 tokens): each
// layer's probabilities against the float64 reference, and the logits with
// the tap the same bits as without it.
func TestEnginesAttentionMatchReference(t *testing.T) {
	for i, mc := range parityModels() {
		seed := int64(100 + i)
		m := randomModel(mc.cfg, seed)
		px := deit.RandomPixels(mc.cfg, mc.B, seed)
		want, err := RunReference(context.Background(), m, px, mc.B, deit.TapAttention)
		require.NoError(t, err)
		c := mc.cfg
		require.Len(t, want.Attention, c.Layers)
		require.Len(t, want.Attention[0], mc.B*c.Heads*c.Tokens()*c.Tokens())
		t.Run(mc.name, func(t *testing.T) {
			for _, tc := range engineCases() {
				t.Run(tc.name, func(t *testing.T) {
					e := tc.open(t, m, mc.B)
					plain, err := e.Forward(context.Background(), px, mc.B)
					require.NoError(t, err)
					out, err := e.Run(context.Background(), px, mc.B, deit.TapAttention)
					require.NoError(t, err)
					requireAttention(t, out.Attention, want.Attention, attentionBound(tc))
					require.Equal(t, plain, out.Logits, "the attention tap changes no logit")
					require.Nil(t, out.Hidden, "only the taps asked for")
					again, err := e.Forward(context.Background(), px, mc.B)
					require.NoError(t, err)
					require.Equal(t, plain, again, "a pass with the tap leaves later passes unchanged")
				})
			}
		})
	}
}

// torchAttentions is a fixture's attentions.json (testdata/gen_attention.py):
// PyTorch's float64 attention probabilities and the maps made of them.
type torchAttentions struct {
	Heads      int         `json:"heads"`
	Batch      int         `json:"batch"`
	Tokens     int         `json:"tokens"`
	Special    int         `json:"special"`
	Attentions [][]float64 `json:"attentions"` // per layer [Batch, Heads, Tokens, Tokens]
	Rollout    []float64   `json:"rollout"`    // [Batch, Special, patches]
	Last       []float64   `json:"last"`       // [Batch, Special, Heads+1, patches]
}

// readTorchAttentions reads testdata/<dir>/attentions.json.
func readTorchAttentions(t testing.TB, dir string) torchAttentions {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(dir, "attentions.json"))
	require.NoError(t, err)
	var a torchAttentions
	require.NoError(t, json.Unmarshal(b, &a))
	return a
}

// TestEnginesAttentionMatchTorch compares every engine's attention
// probabilities with PyTorch's (nn.MultiheadAttention's weights, as
// output_attentions returns them) on every committed fixture: within 1e-5
// relative at fp32, fp16AttentionBound at fp16.
func TestEnginesAttentionMatchTorch(t *testing.T) {
	for _, f := range fixture.Torches {
		m, px, _ := fixturemodel.Load(t, f)
		want := readTorchAttentions(t, f.Dir)
		c := m.Config
		t.Run(f.Name, func(t *testing.T) {
			require.Equal(t, want.Heads, c.Heads)
			require.Equal(t, want.Tokens, c.Tokens())
			require.Equal(t, want.Special, c.Special())
			for _, tc := range engineCases() {
				t.Run(tc.name, func(t *testing.T) {
					out, err := tc.open(t, m, want.Batch).Run(context.Background(), px, want.Batch, deit.TapAttention)
					require.NoError(t, err)
					requireAttention(t, out.Attention, want.Attentions, attentionBound(tc))
				})
			}
		})
	}
}

// TestCPUAttentionTapCostsNothing: a CPU engine allocates the
// probabilities only on the first pass that asks for them, ForwardInto
// allocates nothing before or after, and a batch too large for the memory
// left is refused with ErrOutOfMemory.
func TestCPUAttentionTapCostsNothing(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 4)
	e := newCPU(t, m, 2, CPUOptions{})
	require.True(t, e.vals[deit.Probs] == nil, "no probabilities buffer before a pass asks for them")
	px := deit.RandomPixels(c, 2, 4)
	dst := make([]float32, 2*c.NumLabels)
	ctx := context.Background()
	forward := func() float64 {
		return testing.AllocsPerRun(5, func() {
			if err := e.ForwardInto(ctx, dst, px, 2); err != nil {
				t.Fatal(err)
			}
		})
	}
	require.Zero(t, forward())
	require.True(t, e.vals[deit.Probs] == nil, "a plain pass allocates no probabilities")
	before := append([]float32(nil), dst...)
	out, err := e.Run(ctx, px, 2, deit.TapAttention)
	require.NoError(t, err)
	require.Len(t, out.Attention, c.Layers)
	require.Len(t, e.vals[deit.Probs], 2*c.Heads*c.Tokens()*c.Tokens())
	require.Zero(t, forward())
	require.Equal(t, before, dst)

	// Exactly the activations fit: the probabilities are refused, the
	// engine still works.
	perImage := 4 * (c.Patches()*(c.Channels*c.PatchSize*c.PatchSize+c.Hidden) + c.Tokens()*(7*c.Hidden+c.MLP) + 2*c.HeadTokens()*c.Hidden)
	tight := newCPU(t, m, 2, CPUOptions{MaxBytes: int64(2 * perImage)})
	_, err = tight.Run(ctx, px, 2, deit.TapAttention)
	require.ErrorIs(t, err, ErrOutOfMemory)
	require.ErrorContains(t, err, "layer0.attention_probs: probs for batch 2 need")
	logits, err := tight.Forward(ctx, px, 2)
	require.NoError(t, err)
	require.Equal(t, before, logits)
}

// TestGPUAttentionTapCostsNothing: a GPU engine's plain recording holds no
// probability dispatch (one timestamp per dispatch: as many as the plan has
// non-optional steps) and allocates no buffer for them; the recording with
// the tap runs one more dispatch per layer.
func TestGPUAttentionTapCostsNothing(t *testing.T) {
	dev := gputest.Open(t)
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 4)
	e := newGPU(t, dev, m, 2, deit.FP32)
	px := deit.RandomPixels(c, 2, 4)
	ctx := context.Background()
	plain, err := e.Forward(ctx, px, 2)
	require.NoError(t, err)
	require.True(t, e.vals[deit.Probs] == nil, "no probabilities buffer for a plain pass")
	require.Empty(t, e.taps)
	out, err := e.Run(ctx, px, 2, deit.TapAttention)
	require.NoError(t, err)
	require.Equal(t, plain, out.Logits)
	require.NotNil(t, e.vals[deit.Probs])
	if !dev.Info().Timestamps {
		t.Skip("device has no timestamp queries")
	}
	count := func(rec recording) int {
		e.mu.Lock()
		defer e.mu.Unlock()
		seq, err := e.sequence(rec)
		require.NoError(t, err)
		_, err = e.run(ctx, seq, px, 2, 0)
		require.NoError(t, err)
		ts, err := seq.Timings()
		require.NoError(t, err)
		return len(ts)
	}
	steps := 0
	for _, s := range e.plan.Steps {
		if !s.Info().Optional {
			steps++
		}
	}
	require.Equal(t, steps, count(recording{B: 2, timed: true}), "a plain pass: one dispatch per non-optional step")
	require.Equal(t, steps+c.Layers, count(recording{B: 2, timed: true, runs: deit.TapAttention}), "one probabilities dispatch per layer")
}
