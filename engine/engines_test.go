package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/cpu"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/internal/fixture/fixturemodel"
)

// fp16LogitsBound is the relative L2 error allowed for fp16 logits against
// the float64 reference. Every weight and every stored activation but the
// fp32 residual stream is rounded to fp16 once (relative error ≤ 2⁻¹¹ =
// 4.9e-4 each, about 2.8e-4 rms); the logits combine a few dozen such
// roundings per layer, which partly cancel. Measured on lavapipe (Mesa
// 22.3 plain fp16 / Mesa 26 with 8×8×8 cooperative matrices): 0.40–0.56e-3
// / 0.45–0.78e-3 for the tiny test models, 0.95e-3 / 1.0e-3 for deit-small
// (12 layers, K up to 1536) and 0.70–0.84e-3 / 0.63–0.75e-3 on the PyTorch
// fixtures, the residual stream itself staying near 3e-4. 2e-3 keeps a 2×
// margin over the worst; a wrong index or a missing term moves logits by
// order 1.
const fp16LogitsBound = 2e-3

// bf16LogitsBound is the relative L2 error allowed for the CPU engine's
// bf16 logits and embeddings against the float64 reference and PyTorch
// (docs/precision.md derives it). bf16 keeps 8 significant bits: each
// weight and each product input is rounded once with relative error ≤ 2⁻⁸
// = 3.9e-3, the products accumulating in fp32; the logits combine a few
// dozen such roundings per layer, which partly cancel, as fp16's do (fp16,
// 8× finer, measures 0.4–1.0e-3). Measured on AMD Zen 5 (VDPBF16PS):
// 1.7–5.7e-3 on the tiny test models, 5.0–5.3e-3 on the PyTorch fixtures,
// 6.7e-3 on deit-small (12 layers, K up to 1536). 1.5e-2 keeps a 2×
// margin over the worst; a wrong index or a missing term moves logits by
// order 1.
const bf16LogitsBound = 1.5e-2

// fp32Bound is the relative L2 error allowed for fp32 engines against the
// float64 reference and PyTorch on the tiny models: float32 products of at
// most a few hundred terms and a float32 softmax stay near 1e-6 relative,
// so 1e-5 leaves a margin of ten without hiding a wrong index or a missing
// term (which give errors of order 1). deit-small's 12 layers and K up to
// 1536 grow the rounding to ~1e-5: smallBound.
const (
	fp32Bound  = 1e-5
	smallBound = 1e-4
)

// engineCase is one engine at one precision: the shared table every parity
// and behaviour test of this file runs.
type engineCase struct {
	name string
	// open builds the engine for m and batches up to B, skipping the test
	// where the machine cannot run it (an ISA it lacks, no Vulkan device
	// outside CI, no fp16), and closes it at the end of the test.
	open func(t *testing.T, m *deit.Model, B int) Engine
	// bound is the relative L2 error allowed against the float64 reference
	// and PyTorch, logits and embeddings.
	bound float64
	// hiddenChecked: every layer's output is held to bound too (fp16 rounds
	// the MLP and attention inputs; its residual stream is only logged).
	hiddenChecked bool
	// batchExact: an image's logits are the same bits alone or in a batch
	// (a GPU picks other matmul tiles for other batch sizes).
	batchExact bool
	// slow: the full deit-small shape takes minutes (the generic Go kernels).
	slow bool
}

// engineCases are every engine and precision: the reference, the CPU
// engine on each ISA, and the GPU engine at fp32 and fp16 — or, when
// $VKDEIT_TEST_ENGINES lists case names (comma-separated), only those (the
// coopmat lane runs "gpu/fp16" alone).
func engineCases() []engineCase {
	all := allEngineCases()
	only := os.Getenv("VKDEIT_TEST_ENGINES")
	if only == "" {
		return all
	}
	var cases []engineCase
	for _, c := range all {
		if slices.Contains(strings.Split(only, ","), c.name) {
			cases = append(cases, c)
		}
	}
	return cases
}

// allEngineCases is the whole table.
func allEngineCases() []engineCase {
	cases := []engineCase{{
		name: "ref", bound: 0, hiddenChecked: true, batchExact: true,
		open: func(t *testing.T, m *deit.Model, B int) Engine {
			e, err := NewReference(m, B, ReferenceOptions{})
			require.NoError(t, err)
			t.Cleanup(func() { e.Close() })
			return e
		},
	}}
	for _, isa := range cpu.ISAs() {
		cases = append(cases, engineCase{
			name: "cpu/" + isa.String(), bound: fp32Bound, hiddenChecked: true, batchExact: true, slow: isa == cpu.Generic,
			open: func(t *testing.T, m *deit.Model, B int) Engine {
				if !isa.Supported() {
					t.Skipf("%v not supported here", isa)
				}
				return newCPU(t, m, B, CPUOptions{ISA: isa})
			},
		})
	}
	cases = append(cases, engineCase{
		// The best bf16 unit here; without a native one the Go emulation,
		// too slow for deit-small.
		name: "cpu/bf16", bound: bf16LogitsBound, batchExact: true, slow: !cpu.BestBF16().Native(),
		open: func(t *testing.T, m *deit.Model, B int) Engine {
			e := newCPU(t, m, B, CPUOptions{Precision: deit.BF16})
			require.Equal(t, deit.BF16, e.Precision())
			t.Logf("engine kernels: %s", e.Arithmetic())
			require.Contains(t, e.Name(), e.Arithmetic(), "the engine's name says its precision")
			return e
		},
	})
	return append(cases,
		engineCase{name: "gpu/fp32", bound: fp32Bound, hiddenChecked: true,
			open: func(t *testing.T, m *deit.Model, B int) Engine {
				return newGPU(t, gputest.Open(t), m, B, deit.FP32)
			}},
		engineCase{name: "gpu/fp16", bound: fp16LogitsBound,
			open: func(t *testing.T, m *deit.Model, B int) Engine {
				return fp16Engine(t, gputest.Open(t), m, B)
			}},
	)
}

// newCPU builds a CPU engine closed at the end of the test.
func newCPU(t testing.TB, m *deit.Model, B int, opts CPUOptions) *CPU {
	t.Helper()
	e, err := NewCPU(m, B, opts)
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// newGPU builds a GPU engine closed at the end of the test.
func newGPU(t testing.TB, d *gpu.Device, m *deit.Model, B int, p deit.Precision) *GPU {
	t.Helper()
	e, err := NewGPU(d, m, B, GPUOptions{Precision: p})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// fp16Engine builds an fp16 engine, skipping on devices without fp16 (unless
// $VKDEIT_REQUIRE_FP16=1) and failing on the coopmat lane when cooperative
// matrices are not in use ($VKDEIT_REQUIRE_COOPMAT=1).
func fp16Engine(t *testing.T, dev *gpu.Device, m *deit.Model, B int) *GPU {
	t.Helper()
	e, err := NewGPU(dev, m, B, GPUOptions{Precision: deit.FP16})
	if errors.Is(err, gpu.ErrUnsupported) && os.Getenv("VKDEIT_REQUIRE_FP16") != "1" {
		t.Skipf("no fp16 on this device: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	require.Equal(t, deit.FP16, e.Precision())
	_, coop := e.CoopMat()
	if os.Getenv("VKDEIT_REQUIRE_COOPMAT") == "1" {
		require.True(t, coop, "VKDEIT_REQUIRE_COOPMAT=1 but the engine runs %s: %s", e.Arithmetic(), dev.Info().CoopMatNote)
	}
	t.Logf("engine kernels: %s", e.Arithmetic())
	require.Contains(t, e.Name(), e.Arithmetic(), "the engine's name says its precision")
	return e
}

// tinyConfig is the small model most tests run.
func tinyConfig(head deit.HeadKind) deit.Config {
	return deit.Config{Hidden: 64, Layers: 2, Heads: 2, MLP: 256, ImageSize: 32, PatchSize: 8,
		Channels: 3, NumLabels: 10, Eps: 1e-12, Head: head}
}

func randomModel(c deit.Config, seed int64) *deit.Model {
	return &deit.Model{Config: c, Weights: deit.RandomWeights(c, seed)}
}

// requireTop1 checks that got picks want's class for every image.
func requireTop1[T float32 | float64](t *testing.T, got []T, want []float64, L int) {
	t.Helper()
	for b := range len(want) / L {
		require.Equal(t, fixture.TopN(want, L, b, 1), fixture.TopN(got, L, b, 1), "top-1 of image %d", b)
	}
}

// parityModels are the random models every engine is compared on.
func parityModels() []struct {
	name string
	cfg  deit.Config
	B    int
} {
	odd := tinyConfig(deit.HeadDistilled)
	odd.ImageSize, odd.PatchSize, odd.Hidden, odd.Heads, odd.MLP, odd.NumLabels, odd.Layers = 40, 16, 128, 2, 384, 1001, 1
	return []struct {
		name string
		cfg  deit.Config
		B    int
	}{
		{"distilled/B1", tinyConfig(deit.HeadDistilled), 1},
		{"distilled/B3", tinyConfig(deit.HeadDistilled), 3},
		{"classifier/B2", tinyConfig(deit.HeadClassifier), 2},
		{"distilled-classifier/B2", tinyConfig(deit.HeadDistilledClassifier), 2},
		{"odd-size-image/B2", odd, 2}, // 40 px with patch 16: remainder dropped, 1001 labels
		{"384px-geometry/B1", deit.Config{Hidden: 64, Layers: 1, Heads: 1, MLP: 128, ImageSize: 384, PatchSize: 16,
			Channels: 3, NumLabels: 1000, Eps: 1e-12, Head: deit.HeadDistilled}, 1}, // 578 tokens, head dim 64
	}
}

// requireMatches runs e with every tap and requires its logits, embeddings
// and (when hidden) every layer's output within bound (relative L2) of
// want, top-1 to agree, and Forward to give exactly Run's logits.
func requireMatches(t *testing.T, tc engineCase, e Engine, px []float32, B int, want *Output) {
	t.Helper()
	ctx := context.Background()
	out, err := e.Run(ctx, px, B, deit.TapHidden|deit.TapEmbeddings)
	require.NoError(t, err)
	require.Len(t, out.Hidden, len(want.Hidden))
	for l := range out.Hidden {
		if tc.hiddenChecked {
			fixture.RequireRelL2(t, fmt.Sprintf("layer %d", l), out.Hidden[l], fixture.Widen(want.Hidden[l]), tc.bound)
		} else {
			rel, _, _ := fixture.RelL2(out.Hidden[l], fixture.Widen(want.Hidden[l]))
			t.Logf("layer %d residual stream: relative L2 %.3g", l, rel)
		}
	}
	fixture.RequireRelL2(t, "logits", out.Logits, fixture.Widen(want.Logits), tc.bound)
	fixture.RequireRelL2(t, "embeddings", out.Embeddings, fixture.Widen(want.Embeddings), tc.bound)
	requireTop1(t, out.Logits, fixture.Widen(want.Logits), e.Config().NumLabels)
	plain, err := e.Forward(ctx, px, B)
	require.NoError(t, err)
	require.Equal(t, out.Logits, plain, "Forward and Run with taps must compute the same logits")
}

// TestEnginesMatchReference compares every engine with the float64
// reference on random models of every head kind and odd geometries:
// logits, embeddings and every layer's output.
func TestEnginesMatchReference(t *testing.T) {
	for i, mc := range parityModels() {
		seed := int64(100 + i)
		m := randomModel(mc.cfg, seed)
		px := deit.RandomPixels(mc.cfg, mc.B, seed)
		want, err := RunReference(context.Background(), m, px, mc.B, deit.TapHidden|deit.TapEmbeddings)
		require.NoError(t, err)
		t.Run(mc.name, func(t *testing.T) {
			for _, tc := range engineCases() {
				t.Run(tc.name, func(t *testing.T) {
					requireMatches(t, tc, tc.open(t, m, mc.B), px, mc.B, want)
				})
			}
		})
	}
}

// TestEnginesMatchTorch runs every committed PyTorch fixture (HF
// safetensors and pytorch_model.bin, timm .pth without config, ViT layout)
// on every engine against PyTorch's float64 logits, layer by layer where
// the fixture has hidden states.
func TestEnginesMatchTorch(t *testing.T) {
	for _, f := range fixture.Torches {
		m, px, want := fixturemodel.Load(t, f)
		g := fixture.ReadGolden(t, f.Dir)
		B := g.Batch
		t.Run(f.Name, func(t *testing.T) {
			if g.Heads > 0 {
				require.Equal(t, g.Heads, m.Config.Heads, "head count")
			}
			require.InEpsilon(t, g.Eps, float64(m.Config.Eps), 1e-6, "LayerNorm eps")
			for _, tc := range engineCases() {
				t.Run(tc.name, func(t *testing.T) {
					out, err := tc.open(t, m, B).Run(context.Background(), px, B, deit.TapHidden)
					require.NoError(t, err)
					fixture.RequireRelL2(t, "logits", out.Logits, want, max(tc.bound, fp32Bound))
					requireTop1(t, out.Logits, want, m.Config.NumLabels)
					if len(g.Hidden) > 0 && tc.hiddenChecked {
						require.Equal(t, g.Tokens, m.Config.Tokens())
						require.Len(t, out.Hidden, len(g.Hidden))
						for l := range g.Hidden {
							fixture.RequireRelL2(t, fmt.Sprintf("layer %d", l), out.Hidden[l], g.Hidden[l], max(tc.bound, fp32Bound))
						}
					}
				})
			}
		})
	}
}

// TestEnginesDeiTSmall checks the full deit-small-distilled shape (random
// weights, 22M parameters) on every engine at batch 2 against the float64
// reference: logits within the README's bound and the same top-5 (top-1 at
// fp16).
func TestEnginesDeiTSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("full deit-small in -short mode")
	}
	c, err := deit.Preset("small-distilled")
	require.NoError(t, err)
	m := randomModel(c, 7)
	const B = 2
	px := deit.RandomPixels(c, B, 7)
	want, err := RunReference(context.Background(), m, px, B, 0)
	require.NoError(t, err)
	L := c.NumLabels
	for _, tc := range engineCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "ref" || tc.slow {
				t.Skip("the reference is the oracle; the generic kernels take minutes at this size")
			}
			logits, err := tc.open(t, m, B).Forward(context.Background(), px, B)
			require.NoError(t, err)
			fixture.RequireRelL2(t, "deit-small logits", logits, fixture.Widen(want.Logits), max(tc.bound, smallBound))
			for b := range B {
				if tc.bound <= fp32Bound {
					require.Equal(t, fixture.TopN(want.Logits, L, b, 5), fixture.TopN(logits, L, b, 5), "top-5 of image %d", b)
				}
			}
			if tc.bound > fp16LogitsBound {
				// Random weights leave the top logits of deit-small within
				// bf16's rounding of each other: its decisions are checked
				// on the trained fixture (TestEnginesTrained).
				t.Logf("top-1 agreement with the reference: %d of %d", top1Agree(logits, want.Logits, L), B)
				return
			}
			requireTop1(t, logits, fixture.Widen(want.Logits), L)
		})
	}
}

// top1Agree counts the images whose top-1 label is the same in got and want.
func top1Agree[T, U float32 | float64](got []T, want []U, L int) int {
	n := 0
	for b := range len(want) / L {
		if fixture.TopN(got, L, b, 1)[0] == fixture.TopN(want, L, b, 1)[0] {
			n++
		}
	}
	return n
}

// TestEnginesBatchIndependent: an image's logits do not depend on the other
// images of its batch — the same bits on the reference and the CPU, equal
// to rounding on a GPU (whose tiles change with the batch size).
func TestEnginesBatchIndependent(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 21)
	const B = 5
	px := deit.RandomPixels(c, B, 21)
	per, L := len(px)/B, c.NumLabels
	for _, tc := range engineCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.open(t, m, B)
			all, err := e.Forward(context.Background(), px, B)
			require.NoError(t, err)
			for b := range B {
				one, err := e.Forward(context.Background(), px[b*per:(b+1)*per], 1)
				require.NoError(t, err)
				if tc.batchExact {
					require.Equal(t, all[b*L:(b+1)*L], one, "image %d alone vs in a batch of %d", b, B)
				} else {
					fixture.RequireRelL2(t, fmt.Sprintf("image %d alone vs in a batch of %d", b, B), one, fixture.Widen(all[b*L:(b+1)*L]), 1e-6)
				}
			}
		})
	}
}

// TestEnginesConcurrent calls one engine from several goroutines with two
// batch sizes that share its buffers: every answer must be bit-identical to
// a single call's. Run with -race.
func TestEnginesConcurrent(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 3)
	ctx := context.Background()
	px4 := deit.RandomPixels(c, 4, 3)
	px1 := px4[:len(px4)/4]
	for _, tc := range engineCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.open(t, m, 4)
			want4, err := e.Forward(ctx, px4, 4)
			require.NoError(t, err)
			want1, err := e.Forward(ctx, px1, 1)
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for g := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 10 {
						px, want := px4, want4
						if (g+i)%2 == 1 {
							px, want = px1, want1
						}
						got, err := e.Forward(ctx, px, len(want)/c.NumLabels)
						if err != nil {
							errs[g] = err
							return
						}
						for j := range got {
							if got[j] != want[j] {
								errs[g] = fmt.Errorf("goroutine %d run %d: logit %d = %v, want %v", g, i, j, got[j], want[j])
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
		})
	}
}

// TestEnginesProfile: the engines that time their steps report one entry
// per plan step a pass without taps runs (no optional step), named by the
// plan, with the same logits as Forward and the FLOPs Config.FLOPs counts.
func TestEnginesProfile(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 5)
	plan, err := deit.NewPlan(m)
	require.NoError(t, err)
	var steps []deit.Step
	for _, s := range plan.Steps {
		if s.Info().Runs(0) {
			steps = append(steps, s)
		}
	}
	require.Len(t, steps, len(plan.Steps)-c.Layers, "one optional step per layer")
	px := deit.RandomPixels(c, 2, 5)
	for _, tc := range engineCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.open(t, m, 2)
			p, ok := e.(Profiler)
			if !ok {
				t.Skipf("%s does not profile", e.Name())
			}
			if g, ok := e.(*GPU); ok && !g.Device().Timestamps {
				t.Skip("device has no timestamp queries")
			}
			want, err := e.Forward(context.Background(), px, 2)
			require.NoError(t, err)
			got, times, err := p.Profile(context.Background(), px, 2)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.Len(t, times, len(steps))
			var flops float64
			for i, st := range times {
				si := steps[i].Info()
				require.Equal(t, si.Name, st.Step)
				require.Equal(t, si.Kernel, st.Kernel)
				require.GreaterOrEqual(t, st.Nanos, 0.0, st.Step)
				flops += st.FLOPs
			}
			require.Equal(t, "layer0.ln1", times[3].Step)
			require.InDelta(t, 2*c.FLOPs(), flops, 1e-9*c.FLOPs(), "profiled FLOPs vs Config.FLOPs for 2 images")
		})
	}
}

// TestEnginesErrors: every engine refuses bad sizes, inputs and models with
// an error naming the problem, and fails every call after Close.
func TestEnginesErrors(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 1)
	ctx := context.Background()
	short := *m
	short.Weights = deit.RandomWeights(c, 1)
	short.Weights.Layers[0].FC1W = short.Weights.Layers[0].FC1W[:10]
	for _, tc := range engineCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.open(t, m, 2)
			_, err := e.Forward(ctx, make([]float32, 10), 1)
			require.ErrorContains(t, err, "got 10 pixel values")
			_, err = e.Forward(ctx, deit.RandomPixels(c, 3, 1), 3)
			require.ErrorContains(t, err, "batch 3 outside 1..2")
			bad := deit.RandomPixels(c, 1, 1)
			bad[7] = float32(math.NaN())
			_, err = e.Run(ctx, bad, 1, deit.TapEmbeddings)
			require.ErrorContains(t, err, "pixel value 7 (image 0, channel 0, row 0, column 7) is NaN")
			canceled, cancel := context.WithCancel(ctx)
			cancel()
			_, err = e.Forward(canceled, deit.RandomPixels(c, 1, 1), 1)
			require.ErrorIs(t, err, context.Canceled)
			require.Equal(t, 2, e.MaxBatch())
			require.Equal(t, c.Hidden, e.Config().Hidden)
			require.NotEqual(t, deit.Auto, e.Precision())
			require.NoError(t, e.Close())
			px := deit.RandomPixels(c, 1, 1)
			_, err = e.Forward(ctx, px, 1)
			require.ErrorContains(t, err, "after Close")
			_, err = e.Run(ctx, px, 1, deit.TapHidden)
			require.ErrorContains(t, err, "after Close")
			if p, ok := e.(Profiler); ok {
				_, _, err = p.Profile(ctx, px, 1)
				require.ErrorContains(t, err, "after Close")
			}
		})
	}
	// Construction errors, through New for the kinds that open no device.
	for _, dev := range []string{"ref", "cpu"} {
		t.Run("New/"+dev, func(t *testing.T) {
			_, err := New(m, Options{Device: dev, MaxBatch: -1})
			require.ErrorContains(t, err, "batch size -1")
			_, err = New(nil, Options{Device: dev})
			require.ErrorContains(t, err, "nil model")
			_, err = New(&short, Options{Device: dev})
			require.ErrorContains(t, err, "Layers[0].FC1W has 10 values")
			_, err = New(&deit.Model{Config: c}, Options{Device: dev})
			require.ErrorContains(t, err, "no weights")
			_, err = New(&deit.Model{Config: deit.Config{Hidden: 30, Heads: 4, Layers: 1, MLP: 8}}, Options{Device: dev})
			require.ErrorContains(t, err, "not a multiple of 4 heads")
			_, err = New(m, Options{Device: dev, Precision: deit.FP16})
			require.ErrorContains(t, err, map[string]string{
				"ref": "precision fp16: the reference engine supports fp32, auto",
				"cpu": "precision fp16: the cpu engine supports fp32, bf16, auto"}[dev])
			e, err := New(m, Options{Device: dev, Precision: deit.Auto, MaxBatch: 3})
			require.NoError(t, err)
			auto := deit.FP32 // the reference; the CPU engine where bf16 is emulated
			if dev == "cpu" && cpu.BestBF16().Native() {
				auto = deit.BF16
			}
			require.Equal(t, auto, e.Precision())
			require.Equal(t, 3, e.MaxBatch())
			require.NoError(t, e.Close())
		})
	}
}

// TestResolveDevice maps device names to engine kinds.
func TestResolveDevice(t *testing.T) {
	for _, c := range []struct {
		device, sel string
		kind        Kind
		wantSel     string
	}{
		{"cpu", "", KindCPU, ""}, {"CPU", "x", KindCPU, ""}, {"ref", "", KindReference, ""}, {"reference", "", KindReference, ""},
		{"gpu", "", KindGPU, ""}, {"vulkan", "1", KindGPU, "1"}, {"2", "", KindGPU, "2"}, {"llvmpipe", "", KindGPU, "llvmpipe"},
		{"auto", "0", KindGPU, "0"},
	} {
		kind, sel := ResolveDevice(c.device, c.sel)
		require.Equal(t, c.kind, kind, c.device)
		require.Equal(t, c.wantSel, sel, c.device)
	}
	kind, _ := ResolveDevice("", "")
	if HasGPU() {
		require.Equal(t, KindGPU, kind)
	} else {
		require.Equal(t, KindCPU, kind, "without a GPU, auto is the CPU engine (lavapipe is slower)")
	}
}
