package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/imageio"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// The trained fixture, testdata/trained/ (fixture.Trained): a Hugging Face
// DeiT directory, a held-out test set of images in one folder per class,
// and golden.json with PyTorch's logits for those images.
const (
	// minTop1Agreement is the share of images on which a reduced precision
	// must pick the fp32 engine's top-1 label.
	minTop1Agreement = 0.995
	// maxAccuracyDrop is how far (in points) its accuracy may fall below
	// fp32's.
	maxAccuracyDrop = 0.5
)

// trainedImage is one test image: its path, its class and its pixels.
type trainedImage struct {
	path   string
	label  int
	pixels []float32
}

// loadTrained loads the trained fixture: the model, its test images and
// PyTorch's logits for them ([N, L], in the same order).
func loadTrained(t *testing.T) (*deit.Model, []trainedImage, []float64) {
	t.Helper()
	files, err := modeldir.Find(fixture.TrainedModel())
	require.NoError(t, err)
	m, err := deit.Load(files)
	require.NoError(t, err)
	g := fixture.ReadTrained(t)
	require.Equal(t, g.Classes, m.Config.Labels)
	imgs := make([]trainedImage, len(g.Paths))
	var torch []float64
	for i, p := range g.Paths {
		img, err := imageio.Load(filepath.Join(fixture.TrainedTest(), filepath.FromSlash(p)), imageio.DecodeOptions{})
		require.NoError(t, err)
		px, err := m.Preprocessor.Apply(img)
		require.NoError(t, err)
		imgs[i] = trainedImage{path: p, label: g.Labels[i], pixels: px}
		torch = append(torch, g.Logits[i]...)
	}
	return m, imgs, torch
}

// runTrained returns an engine's logits for every image, in batches of B.
func runTrained(t *testing.T, e Engine, imgs []trainedImage, B int) []float32 {
	var logits []float32
	for i := 0; i < len(imgs); i += B {
		n := min(B, len(imgs)-i)
		var px []float32
		for _, img := range imgs[i : i+n] {
			px = append(px, img.pixels...)
		}
		out, err := e.Forward(context.Background(), px, n)
		require.NoError(t, err)
		logits = append(logits, out...)
	}
	return logits
}

// TestEnginesTrained runs every engine and precision on the trained
// fixture's test set: fp32 engines pick PyTorch's top-1 label on every
// image and stay within fp32's bound of its logits; reduced precisions
// (bf16 on the CPU, fp16 on the GPU) agree with the fp32 CPU engine's top-1
// on at least 99.5% of the images, lose at most 0.5 points of accuracy and
// stay within their logits bound.
func TestEnginesTrained(t *testing.T) {
	m, imgs, torch := loadTrained(t)
	L := m.Config.NumLabels
	const B = 8
	base := runTrained(t, newCPU(t, m, B, CPUOptions{}), imgs, B)
	accuracy := func(logits []float32) float64 {
		right := 0
		for i, img := range imgs {
			if fixture.TopN(logits, L, i, 1)[0] == img.label {
				right++
			}
		}
		return 100 * float64(right) / float64(len(imgs))
	}
	baseAcc := accuracy(base)
	t.Logf("%d images; fp32 CPU accuracy %.2f%%", len(imgs), baseAcc)
	for _, tc := range engineCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "ref" || tc.slow {
				t.Skip("the reference and the generic kernels take too long on a test set")
			}
			logits := runTrained(t, tc.open(t, m, B), imgs, B)
			acc := accuracy(logits)
			agree := top1Agree(logits, base, L)
			t.Logf("accuracy %.2f%% (fp32 %.2f%%), top-1 agreement with fp32 %d/%d", acc, baseAcc, agree, len(imgs))
			if tc.bound <= fp32Bound {
				fixture.RequireRelL2(t, "logits vs PyTorch", logits, torch, smallBound)
				for i, img := range imgs {
					require.Equal(t, fixture.TopN(torch, L, i, 1), fixture.TopN(logits, L, i, 1), "top-1 of %s", img.path)
				}
				return
			}
			fixture.RequireRelL2(t, "logits", logits, torch, tc.bound)
			require.GreaterOrEqual(t, float64(agree), minTop1Agreement*float64(len(imgs)), "top-1 agreement with fp32")
			require.GreaterOrEqual(t, acc, baseAcc-maxAccuracyDrop, "accuracy")
		})
	}
}
