package deit

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/loader/hub"
)

// torchFixture is one committed PyTorch reference model under testdata/,
// written by testdata/gen_reference.py: a checkpoint file, its directory's
// config.json (if any) and golden.json with the logits PyTorch computed in
// float64 for the two images of testdata/tiny-inputs.json.
type torchFixture struct {
	Name    string // subtest name
	Dir     string // directory under testdata/
	Weights string // checkpoint file inside Dir
}

// torchFixtures are every committed format: the HF DeiT-with-teacher in
// safetensors and pytorch_model.bin (zip, with shared storages and a
// non-contiguous tensor), the same weights as a timm/facebookresearch .pth
// without config.json (eps 1e-6, heads = hidden/64 = 1), and a ViT-layout
// classifier (1 special token, head dim 16).
var torchFixtures = []torchFixture{
	{"hf-safetensors", "tiny-distilled", "model.safetensors"},
	{"hf-pytorch_model.bin", "tiny-distilled", "pytorch_model.bin"},
	{"timm-pth-no-config", "tiny-distilled-timm", "model.pth"},
	{"vit-safetensors", "tiny-vit", "model.safetensors"},
}

// golden is a fixture's golden.json.
type golden struct {
	Eps         float64     `json:"eps"`
	Heads       int         `json:"heads"`
	Batch       int         `json:"batch"`
	NumLabels   int         `json:"num_labels"`
	Tokens      int         `json:"tokens"`
	HiddenSize  int         `json:"hidden_size"`
	Logits      []float64   `json:"logits"`           // [Batch, NumLabels], what the model returns
	ClsLogits   []float64   `json:"cls_logits"`       // distilled models: the [CLS] head alone
	DistLogits  []float64   `json:"dist_logits"`      // distilled models: the [DIST] head alone
	Hidden      [][]float64 `json:"hidden"`           // per layer [Batch*Tokens, HiddenSize] (HF fixtures)
	LogitsEps12 []float64   `json:"logits_eps_1e-12"` // timm fixture: the same run with eps 1e-12
}

// testdataPath is a path under the repository's testdata/.
func testdataPath(elem ...string) string {
	return filepath.Join(append([]string{"..", "testdata"}, elem...)...)
}

// fixtureFiles are the hub.ModelFiles for one checkpoint file of a
// fixture directory, with config.json and preprocessor_config.json when the
// directory has them.
func fixtureFiles(dir, weights string) hub.ModelFiles {
	d := testdataPath(dir)
	f := hub.ModelFiles{Dir: d, Weights: filepath.Join(d, weights)}
	if _, err := os.Stat(filepath.Join(d, "config.json")); err == nil {
		f.Config = filepath.Join(d, "config.json")
	}
	if _, err := os.Stat(filepath.Join(d, "preprocessor_config.json")); err == nil {
		f.Preprocessor = filepath.Join(d, "preprocessor_config.json")
	}
	return f
}

// readGolden reads testdata/<dir>/golden.json.
func readGolden(t testing.TB, dir string) golden {
	t.Helper()
	b, err := os.ReadFile(testdataPath(dir, "golden.json"))
	require.NoError(t, err)
	var g golden
	require.NoError(t, json.Unmarshal(b, &g))
	require.Len(t, g.Logits, g.Batch*g.NumLabels, "golden logits")
	return g
}

// readInputs reads testdata/tiny-inputs.json: the fixtures' input images,
// [2, 3, 32, 32] float32.
func readInputs(t testing.TB) (pixels []float32, batch int) {
	t.Helper()
	b, err := os.ReadFile(testdataPath("tiny-inputs.json"))
	require.NoError(t, err)
	var in struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &in))
	require.Len(t, in.Shape, 4)
	require.Len(t, in.Data, numel(in.Shape))
	pixels = make([]float32, len(in.Data))
	for i, v := range in.Data {
		pixels[i] = float32(v)
	}
	return pixels, in.Shape[0]
}

// loadFixture loads one fixture checkpoint through Load (notes discarded)
// and returns the model, the batch of input pixels ([2, 3, 32, 32]) and the
// logits PyTorch computed for them ([2, NumLabels], float64). The GPU tests
// use it too: run the same pixels with batch 2 and compare with relL2.
func loadFixture(t testing.TB, dir, weights string) (m *Model, pixels []float32, want []float64) {
	t.Helper()
	m, err := Load(fixtureFiles(dir, weights))
	require.NoError(t, err)
	pixels, batch := readInputs(t)
	g := readGolden(t, dir)
	require.Equal(t, g.Batch, batch)
	require.Equal(t, g.NumLabels, m.Config.NumLabels)
	return m, pixels, g.Logits
}

// relL2 is ‖got − want‖ / ‖want‖ together with the index of the element
// that differs most and that difference.
func relL2[T float32 | float64](got []T, want []float64) (rel float64, worst int, worstDiff float64) {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - want[i]
		num += d * d
		den += want[i] * want[i]
		if math.Abs(d) > worstDiff || i == 0 {
			worst, worstDiff = i, math.Abs(d)
		}
	}
	return math.Sqrt(num / den), worst, worstDiff
}

// requireRelL2 fails unless got matches want within tol relative L2 error,
// logging the error and the worst element either way.
func requireRelL2[T float32 | float64](t testing.TB, what string, got []T, want []float64, tol float64) {
	t.Helper()
	require.Len(t, got, len(want), what)
	rel, worst, diff := relL2(got, want)
	t.Logf("%s: relative L2 error %.3g; worst element %d: got %.9g want %.9g (|diff| %.3g)",
		what, rel, worst, float64(got[worst]), want[worst], diff)
	require.LessOrEqual(t, rel, tol, "%s: relative L2 error", what)
}

// hiddenForwarder is an engine that can also return every layer's output.
type hiddenForwarder interface {
	Forward(ctx context.Context, pixels []float32, B int) ([]float32, error)
	ForwardHidden(ctx context.Context, pixels []float32, B int) ([]float32, [][]float32, error)
}

// requireMatchesReference runs e on px and requires its logits and every
// layer's output within bound (relative L2) of the reference, and Forward to
// give exactly ForwardHidden's logits.
func requireMatchesReference(t *testing.T, e hiddenForwarder, px []float32, B int, ref *ReferenceResult, bound float64) {
	t.Helper()
	logits, hidden, err := e.ForwardHidden(context.Background(), px, B)
	require.NoError(t, err)
	require.Len(t, hidden, len(ref.Hidden))
	for l := range hidden {
		requireRelL2(t, fmt.Sprintf("layer %d", l), hidden[l], widen(ref.Hidden[l]), bound)
	}
	requireRelL2(t, "logits", logits, widen(ref.Logits), bound)
	plain, err := e.Forward(context.Background(), px, B)
	require.NoError(t, err)
	require.Equal(t, logits, plain, "Forward and ForwardHidden must compute the same logits")
}

// requireMatchesTorch runs e on a PyTorch fixture's pixels and requires its
// logits, and every layer where the fixture has hidden states, within
// bound of PyTorch's float64 values.
func requireMatchesTorch(t *testing.T, e hiddenForwarder, dir string, px []float32, B int, want []float64, bound float64) {
	t.Helper()
	logits, hidden, err := e.ForwardHidden(context.Background(), px, B)
	require.NoError(t, err)
	requireRelL2(t, "logits", logits, want, bound)
	if g := readGolden(t, dir); len(g.Hidden) > 0 {
		require.Len(t, hidden, len(g.Hidden))
		for l := range hidden {
			requireRelL2(t, fmt.Sprintf("layer %d", l), hidden[l], g.Hidden[l], bound)
		}
	}
}
