package engine

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/checkpoint"
)

// TestReferenceShapes runs every head kind on an image size that is not a
// multiple of the patch size (the remainder is dropped, like PyTorch's
// conv), with every tap.
func TestReferenceShapes(t *testing.T) {
	for _, head := range []deit.HeadKind{deit.HeadDistilled, deit.HeadClassifier, deit.HeadDistilledClassifier} {
		t.Run(head.String(), func(t *testing.T) {
			cfg := deit.Config{Hidden: 32, Layers: 2, Heads: 2, MLP: 64, ImageSize: 20, PatchSize: 8, Channels: 3,
				NumLabels: 5, Eps: 1e-6, Head: head}
			m := randomModel(cfg, 7)
			const B = 3
			res, err := RunReference(context.Background(), m, deit.RandomPixels(cfg, B, 2), B, deit.TapHidden|deit.TapEmbeddings)
			require.NoError(t, err)
			require.Len(t, res.Logits, B*cfg.NumLabels)
			require.Len(t, res.Embeddings, B*cfg.HeadTokens()*cfg.Hidden)
			require.Len(t, res.Hidden, cfg.Layers)
			for _, h := range res.Hidden {
				require.Len(t, h, B*cfg.Tokens()*cfg.Hidden)
			}
			require.Equal(t, 4+cfg.Special(), cfg.Tokens())
			for _, v := range res.Logits {
				require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0))
			}
			require.NotEqual(t, res.Logits[:cfg.NumLabels], res.Logits[cfg.NumLabels:2*cfg.NumLabels], "different images, different logits")
			plain, err := RunReference(context.Background(), m, deit.RandomPixels(cfg, B, 2), B, 0)
			require.NoError(t, err)
			require.Nil(t, plain.Hidden, "taps cost nothing when not asked for")
			require.Nil(t, plain.Embeddings)
		})
	}
}

// TestTorchFixturesDiscriminate makes sure the goldens can catch the
// mistakes they are meant to catch: the eps of a config-less timm file, and
// averaging the two heads instead of using one.
func TestTorchFixturesDiscriminate(t *testing.T) {
	timm := fixture.ReadGolden(t, "tiny-distilled-timm")
	rel, _, _ := fixture.RelL2(timm.LogitsEps12, timm.Logits)
	require.Greater(t, rel, 1e-4, "eps 1e-6 vs 1e-12 must differ by far more than the 1e-5 tolerance")
	hf := fixture.ReadGolden(t, "tiny-distilled")
	rel, _, _ = fixture.RelL2(hf.ClsLogits, hf.Logits)
	require.Greater(t, rel, 1e-2, "cls head alone vs average")
	avg := make([]float64, len(hf.ClsLogits))
	for i := range avg {
		avg[i] = (hf.ClsLogits[i] + hf.DistLogits[i]) / 2
	}
	fixture.RequireRelL2(t, "golden average of heads", avg, hf.Logits, 1e-12)
}

// TestReferenceDeiTForImageClassification runs the HF DeiT weights as
// DeiTForImageClassification: two special tokens but only a "classifier"
// on token 0, which must give PyTorch's [CLS]-head logits.
func TestReferenceDeiTForImageClassification(t *testing.T) {
	ts, err := checkpoint.Read(fixture.Path("tiny-distilled", "model.safetensors"))
	require.NoError(t, err)
	ts["classifier.weight"], ts["classifier.bias"] = ts["cls_classifier.weight"], ts["cls_classifier.bias"]
	for _, n := range []string{"cls_classifier.weight", "cls_classifier.bias", "distillation_classifier.weight", "distillation_classifier.bias"} {
		delete(ts, n)
	}
	hf, err := deit.ReadHFConfig(fixture.Path("tiny-distilled", "config.json"))
	require.NoError(t, err)
	hf.Architectures = []string{"DeiTForImageClassification"}
	cfg, err := deit.ConfigFromHF(hf)
	require.NoError(t, err)
	require.Equal(t, deit.HeadDistilledClassifier, cfg.Head)
	require.Equal(t, 18, cfg.Tokens())
	w, err := deit.WeightsFromTensors(cfg, ts)
	require.NoError(t, err)
	require.Nil(t, w.DistW)

	pixels, batch := fixture.ReadInputs(t)
	g := fixture.ReadGolden(t, "tiny-distilled")
	res, err := RunReference(context.Background(), &deit.Model{Config: cfg, Weights: w}, pixels, batch, 0)
	require.NoError(t, err)
	fixture.RequireRelL2(t, "cls logits", res.Logits, g.ClsLogits, 1e-5)
}

// BenchmarkReference measures the float64 reference on the full
// deit-small-distilled shape (random weights) at batch 1 and 8.
func BenchmarkReference(b *testing.B) {
	cfg, err := deit.Preset("small-distilled")
	require.NoError(b, err)
	m := randomModel(cfg, 1)
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("small-distilled/B%d", batch), func(b *testing.B) {
			e, err := NewReference(m, batch, ReferenceOptions{})
			require.NoError(b, err)
			pixels := deit.RandomPixels(cfg, batch, 1)
			for b.Loop() {
				if _, err := e.Forward(context.Background(), pixels, batch); err != nil {
					b.Fatal(err)
				}
			}
			imgs := float64(b.N * batch)
			b.ReportMetric(imgs/b.Elapsed().Seconds(), "img/s")
			b.ReportMetric(cfg.FLOPs()*imgs/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
