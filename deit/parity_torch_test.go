package deit

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/loader/checkpoint"
)

// TestCPUMatchesPyTorch loads every committed fixture format through Load
// and checks ForwardReference's logits (and, where recorded, every layer's hidden
// state) against PyTorch's float64 forward.
func TestCPUMatchesPyTorch(t *testing.T) {
	for _, f := range torchFixtures {
		t.Run(f.Name, func(t *testing.T) {
			m, pixels, want := loadFixture(t, f.Dir, f.Weights)
			g := readGolden(t, f.Dir)
			if g.Heads > 0 {
				require.Equal(t, g.Heads, m.Config.Heads, "head count")
			}
			require.InEpsilon(t, g.Eps, float64(m.Config.Eps), 1e-6, "LayerNorm eps")
			res, err := m.ForwardReference(context.Background(), pixels, g.Batch)
			require.NoError(t, err)
			requireRelL2(t, "logits", res.Logits, want, 1e-5)
			if g.Hidden != nil {
				require.Len(t, res.Hidden, len(g.Hidden))
				require.Equal(t, g.Tokens, m.Config.Tokens())
				for i := range g.Hidden {
					requireRelL2(t, fmt.Sprintf("layer %d hidden", i), res.Hidden[i], g.Hidden[i], 1e-5)
				}
			}
		})
	}
}

// TestPyTorchFixturesDiscriminate makes sure the goldens can catch the
// mistakes they are meant to catch: the eps of a config-less timm file, and
// averaging the two heads instead of using one.
func TestPyTorchFixturesDiscriminate(t *testing.T) {
	timm := readGolden(t, "tiny-distilled-timm")
	rel, _, _ := relL2(timm.LogitsEps12, timm.Logits)
	require.Greater(t, rel, 1e-4, "eps 1e-6 vs 1e-12 must differ by far more than the 1e-5 tolerance")
	hf := readGolden(t, "tiny-distilled")
	rel, _, _ = relL2(hf.ClsLogits, hf.Logits)
	require.Greater(t, rel, 1e-2, "cls head alone vs average")
	avg := make([]float64, len(hf.ClsLogits))
	for i := range avg {
		avg[i] = (hf.ClsLogits[i] + hf.DistLogits[i]) / 2
	}
	requireRelL2(t, "golden average of heads", avg, hf.Logits, 1e-12)
}

// TestCPUDeiTForImageClassification runs the HF DeiT weights as
// DeiTForImageClassification: two special tokens but only a "classifier" on
// token 0, which must give PyTorch's [CLS]-head logits.
func TestCPUDeiTForImageClassification(t *testing.T) {
	ts, err := checkpoint.Read(testdataPath("tiny-distilled", "model.safetensors"))
	require.NoError(t, err)
	ts["classifier.weight"], ts["classifier.bias"] = ts["cls_classifier.weight"], ts["cls_classifier.bias"]
	for _, n := range []string{"cls_classifier.weight", "cls_classifier.bias", "distillation_classifier.weight", "distillation_classifier.bias"} {
		delete(ts, n)
	}
	hf, err := ReadHFConfig(testdataPath("tiny-distilled", "config.json"))
	require.NoError(t, err)
	hf.Architectures = []string{"DeiTForImageClassification"}
	cfg, err := ConfigFromHF(hf)
	require.NoError(t, err)
	require.Equal(t, HeadDistilledClassifier, cfg.Head)
	require.Equal(t, 18, cfg.Tokens())
	w, err := WeightsFromTensors(cfg, ts)
	require.NoError(t, err)
	require.Nil(t, w.DistW)

	pixels, batch := readInputs(t)
	g := readGolden(t, "tiny-distilled")
	res, err := (&Model{Config: cfg, Weights: w}).ForwardReference(context.Background(), pixels, batch)
	require.NoError(t, err)
	requireRelL2(t, "cls logits", res.Logits, g.ClsLogits, 1e-5)
}

// TestCPUBatchIndependent checks that an image's logits do not depend on
// the other images in the batch: batch 2 equals two batch-1 runs exactly.
func TestCPUBatchIndependent(t *testing.T) {
	m, pixels, _ := loadFixture(t, "tiny-distilled", "model.safetensors")
	both, err := m.ForwardReference(context.Background(), pixels, 2)
	require.NoError(t, err)
	n := len(pixels) / 2
	L := m.Config.NumLabels
	for b := range 2 {
		one, err := m.ForwardReference(context.Background(), pixels[b*n:(b+1)*n], 1)
		require.NoError(t, err)
		require.Equal(t, both.Logits[b*L:(b+1)*L], one.Logits, "image %d", b)
	}
}
