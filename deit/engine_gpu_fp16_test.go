package deit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// fp16Engine builds an fp16 engine, skipping on devices without fp16 (unless
// $VKDEIT_REQUIRE_FP16=1) and failing on the coopmat lane when cooperative
// matrices are not in use ($VKDEIT_REQUIRE_COOPMAT=1).
func fp16Engine(t *testing.T, dev *gpu.Device, m *Model, B int) *GPUEngine {
	t.Helper()
	e, err := NewGPUEngineWith(dev, m, B, GPUEngineOptions{Precision: gpu.PrecisionFP16})
	if errors.Is(err, gpu.ErrUnsupported) && os.Getenv("VKDEIT_REQUIRE_FP16") != "1" {
		t.Skipf("no fp16 on this device: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	require.Equal(t, gpu.PrecisionFP16, e.Precision())
	_, coop := e.CoopMat()
	if os.Getenv("VKDEIT_REQUIRE_COOPMAT") == "1" {
		require.True(t, coop, "VKDEIT_REQUIRE_COOPMAT=1 but the engine runs %s: %s", e.Arithmetic(), dev.Info().CoopMatNote)
	}
	t.Logf("engine kernels: %s", e.Arithmetic())
	require.Contains(t, e.Name(), e.Arithmetic(), "the engine's name says its precision")
	return e
}

// requireTop1 checks that the GPU picks the reference's class for every image.
func requireTop1(t *testing.T, got []float32, want []float64, L int) {
	t.Helper()
	for b := 0; b < len(want)/L; b++ {
		best, wbest := 0, 0
		for i := 0; i < L; i++ {
			if got[b*L+i] > got[b*L+best] {
				best = i
			}
			if want[b*L+i] > want[b*L+wbest] {
				wbest = i
			}
		}
		require.Equal(t, wbest, best, "top-1 of image %d", b)
	}
}

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

// TestEngineFP16MatchesReference runs the tiny models at PrecisionFP16
// against the float64 reference: logits and top-1.
func TestEngineFP16MatchesReference(t *testing.T) {
	dev := gputest.Open(t)
	odd := tinyConfig(HeadDistilled)
	odd.ImageSize, odd.PatchSize, odd.Hidden, odd.Heads, odd.MLP, odd.NumLabels, odd.Layers = 40, 16, 128, 2, 384, 1001, 1
	cases := []struct {
		name string
		cfg  Config
		B    int
	}{
		{"distilled/B1", tinyConfig(HeadDistilled), 1},
		{"distilled/B3", tinyConfig(HeadDistilled), 3},
		{"classifier/B2", tinyConfig(HeadClassifier), 2},
		{"odd-size-image/B2", odd, 2},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seed := int64(200 + i)
			m := randomModel(t, tc.cfg, seed)
			e := fp16Engine(t, dev, m, tc.B)
			px := randomPixels(tc.cfg, tc.B, seed)
			ref, err := m.ForwardReference(context.Background(), px, tc.B)
			require.NoError(t, err)
			logits, hidden, err := e.ForwardHidden(context.Background(), px, tc.B)
			require.NoError(t, err)
			for l := range hidden {
				rel, _, _ := relL2(hidden[l], widen(ref.Hidden[l]))
				t.Logf("layer %d residual stream: relative L2 %.3g", l, rel)
			}
			requireRelL2(t, "fp16 logits", logits, widen(ref.Logits), fp16LogitsBound)
			requireTop1(t, logits, widen(ref.Logits), tc.cfg.NumLabels)
			plain, err := e.Forward(context.Background(), px, tc.B)
			require.NoError(t, err)
			require.Equal(t, logits, plain, "Forward and ForwardHidden must compute the same logits")
			withEmb, emb, err := e.ForwardEmbeddings(context.Background(), px, tc.B)
			require.NoError(t, err)
			require.Equal(t, logits, withEmb)
			requireRelL2(t, "fp16 embeddings", emb, widen(ref.Embeddings), fp16LogitsBound)
		})
	}
}

// TestEngineFP16DeiTSmall checks the full deit-small-distilled shape at
// fp16 against the float64 reference.
func TestEngineFP16DeiTSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("full deit-small in -short mode")
	}
	dev := gputest.Open(t)
	c, err := Preset("small-distilled")
	require.NoError(t, err)
	m := randomModel(t, c, 7)
	const B = 2
	e := fp16Engine(t, dev, m, B)
	px := randomPixels(c, B, 7)
	ref, err := m.ForwardReference(context.Background(), px, B)
	require.NoError(t, err)
	logits, err := e.Forward(context.Background(), px, B)
	require.NoError(t, err)
	requireRelL2(t, "deit-small fp16 logits", logits, widen(ref.Logits), fp16LogitsBound)
	requireTop1(t, logits, widen(ref.Logits), c.NumLabels)
	agree := 0
	for b := 0; b < B; b++ {
		want, got := top5(ref.Logits, c.NumLabels, b), top5(logits, c.NumLabels, b)
		for i := range want {
			if want[i] == got[i] {
				agree++
			}
		}
	}
	t.Logf("top-5 positions agreeing: %d of %d", agree, 5*B)
}

// TestEngineFP16MatchesTorch runs every PyTorch fixture at fp16 against
// PyTorch's float64 logits.
func TestEngineFP16MatchesTorch(t *testing.T) {
	dev := gputest.Open(t)
	for _, f := range torchFixtures {
		t.Run(f.Name, func(t *testing.T) {
			m, px, want := loadFixture(t, f.Dir, f.Weights)
			B := len(want) / m.Config.NumLabels
			e := fp16Engine(t, dev, m, B)
			logits, err := e.Forward(context.Background(), px, B)
			require.NoError(t, err)
			requireRelL2(t, "fp16 logits", logits, want, fp16LogitsBound)
			requireTop1(t, logits, want, m.Config.NumLabels)
		})
	}
}

// TestEnginePrecision checks what each precision resolves to and that the
// default stays fp32, bit for bit the same as an explicit fp32.
func TestEnginePrecision(t *testing.T) {
	dev := gputest.Open(t)
	c := tinyConfig(HeadDistilled)
	m := randomModel(t, c, 9)
	px := randomPixels(c, 1, 9)
	def, err := NewGPUEngine(dev, m, 1)
	require.NoError(t, err)
	defer def.Close()
	require.Equal(t, gpu.PrecisionFP32, def.Precision())
	require.Equal(t, "fp32", def.Arithmetic())
	_, coop := def.CoopMat()
	require.False(t, coop)
	want, err := def.Forward(context.Background(), px, 1)
	require.NoError(t, err)
	for _, p := range []gpu.Precision{gpu.PrecisionFP32, gpu.PrecisionAuto} {
		t.Run(p.String(), func(t *testing.T) {
			e, err := NewGPUEngineWith(dev, m, 1, GPUEngineOptions{Precision: p})
			require.NoError(t, err)
			defer e.Close()
			resolved, err := p.Resolve(dev.Info())
			require.NoError(t, err)
			require.Equal(t, resolved, e.Precision())
			got, err := e.Forward(context.Background(), px, 1)
			require.NoError(t, err)
			if e.Precision() == gpu.PrecisionFP32 {
				require.Equal(t, want, got, "fp32 must be the default kernels, bit for bit")
			} else {
				requireRelL2(t, fmt.Sprintf("%s logits vs fp32", e.Arithmetic()), got, widen(want), fp16LogitsBound)
			}
		})
	}
	_, err = NewGPUEngineWith(dev, m, 1, GPUEngineOptions{Precision: gpu.Precision(7)})
	require.ErrorContains(t, err, "unknown precision")
}

// BenchmarkEnginePrecision times a deit-small-distilled forward (random
// weights) at each precision the device runs: fp32, fp16 without
// cooperative matrices (a device opened with NoCoopMat) and, where the
// device has them, fp16 on cooperative matrices. Batches: 1 and 8, or the
// comma-separated $VKDEIT_BENCH_BATCHES (scripts/gpu-check.sh: 1,8,64,256).
// Metrics: ns/op per forward, img/s, and cpu-ms/op: the process's CPU time
// per forward, which on a CPU driver (lavapipe runs the kernels on this
// process's threads) measures the work itself, little disturbed by other
// load on a shared machine. Sub-benchmarks are named B<batch>/<Engine.Arithmetic()>,
// and B<batch>/<Engine.Arithmetic()>/stream for the same forward through
// ForwardStream (upload overlapped with compute on discrete GPUs).
func BenchmarkEnginePrecision(b *testing.B) {
	c, err := Preset("small-distilled")
	require.NoError(b, err)
	m := &Model{Config: c, Weights: RandomWeights(c, 1)}
	batches := []int{1, 8}
	if env := os.Getenv("VKDEIT_BENCH_BATCHES"); env != "" {
		batches = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(b, err, "VKDEIT_BENCH_BATCHES=%q", env)
			batches = append(batches, n)
		}
	}
	type config struct {
		p      gpu.Precision
		noCoop bool
	}
	done := map[string]bool{}
	for _, cf := range []config{{gpu.PrecisionFP32, false}, {gpu.PrecisionFP16, true}, {gpu.PrecisionFP16, false}} {
		opts := gpu.OptionsFromEnv()
		opts.Validation = false
		opts.NoCoopMat = opts.NoCoopMat || cf.noCoop
		dev, err := gpu.Open(opts)
		if err != nil {
			b.Skipf("no Vulkan device: %v", err)
		}
		for _, B := range batches {
			e, err := NewGPUEngineWith(dev, m, B, GPUEngineOptions{Precision: cf.p})
			if errors.Is(err, gpu.ErrUnsupported) {
				break
			}
			if errors.Is(err, gpu.ErrOutOfMemory) {
				b.Logf("batch %d at %v does not fit: %v", B, cf.p, err)
				continue
			}
			require.NoError(b, err)
			name := fmt.Sprintf("B%d/%s", B, e.Arithmetic())
			if !done[name] {
				done[name] = true
				px := randomPixels(c, B, 1)
				b.Run(name, func(b *testing.B) {
					ctx := context.Background()
					_, err := e.Forward(ctx, px, B) // records the sequence
					require.NoError(b, err)
					cpu0 := cpuSeconds()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := e.Forward(ctx, px, B); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(B)*float64(b.N)/b.Elapsed().Seconds(), "img/s")
					b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/op")
				})
				// The same forward over a stream of batches: on a discrete
				// GPU the next batch's upload overlaps this one's compute.
				b.Run(name+"/stream", func(b *testing.B) {
					ctx := context.Background()
					left := b.N
					next := func() ([]float32, error) {
						if left == 0 {
							return nil, nil
						}
						left--
						return px, nil
					}
					b.ResetTimer()
					if err := e.ForwardStream(ctx, B, next, func([]float32) error { return nil }); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(B)*float64(b.N)/b.Elapsed().Seconds(), "img/s")
				})
			}
			e.Close()
		}
		dev.Close()
	}
}
