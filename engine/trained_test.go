package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/imageio"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// The trained fixture, testdata/trained/: a Hugging Face DeiT directory
// (config.json, model.safetensors, preprocessor_config.json), a held-out
// test set of images in one folder per class (the folder named by the
// class's label or index), and golden.json with PyTorch's logits for those
// images.
const (
	// minTop1Agreement is the share of images on which a reduced precision
	// must pick the fp32 engine's top-1 label.
	minTop1Agreement = 0.995
	// maxAccuracyDrop is how far (in points) its accuracy may fall below
	// fp32's.
	maxAccuracyDrop = 0.5
)

// trainedGolden is the fixture's golden.json: for each test image (its path
// relative to testdata/trained/) PyTorch's float32 logits, [N, L] row-major.
type trainedGolden struct {
	Images []string  `json:"images"`
	Logits []float64 `json:"logits"`
}

// trainedImage is one test image: its path, its class and its pixels.
type trainedImage struct {
	path   string
	label  int
	pixels []float32
}

// loadTrained loads the trained fixture, skipping the test where it is not
// there yet.
func loadTrained(t *testing.T) (*deit.Model, []trainedImage, *trainedGolden) {
	t.Helper()
	dir := fixture.Path("trained")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("the trained fixture testdata/trained/ is not here: accuracy of every engine and precision is not checked")
	}
	files, err := modeldir.Find(dir)
	require.NoError(t, err)
	m, err := deit.Load(files)
	require.NoError(t, err)
	var imgs []trainedImage
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !imageio.HasImageExt(path) {
			return err
		}
		class := filepath.Base(filepath.Dir(path))
		label := slices.Index(m.Config.Labels, class)
		if label < 0 {
			if label, err = strconv.Atoi(class); err != nil || label >= m.Config.NumLabels {
				return nil // not in a class folder
			}
		}
		img, err := imageio.Load(path, imageio.DecodeOptions{})
		if err != nil {
			return err
		}
		px, err := m.Preprocessor.Apply(img)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		imgs = append(imgs, trainedImage{path: rel, label: label, pixels: px})
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, imgs, "testdata/trained/: no images in class folders")
	var golden *trainedGolden
	if data, err := os.ReadFile(filepath.Join(dir, "golden.json")); err == nil {
		golden = new(trainedGolden)
		require.NoError(t, json.Unmarshal(data, golden), "testdata/trained/golden.json")
		require.Len(t, golden.Logits, len(golden.Images)*m.Config.NumLabels, "testdata/trained/golden.json: logits")
	}
	return m, imgs, golden
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
	m, imgs, golden := loadTrained(t)
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
	var torch []float64 // PyTorch's logits in imgs order
	if golden != nil {
		for _, img := range imgs {
			j := slices.Index(golden.Images, filepath.ToSlash(img.path))
			require.GreaterOrEqual(t, j, 0, "testdata/trained/golden.json has no logits for %s", img.path)
			torch = append(torch, golden.Logits[j*L:(j+1)*L]...)
		}
	}
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
				if torch != nil {
					fixture.RequireRelL2(t, "logits vs PyTorch", logits, torch, smallBound)
					for i, img := range imgs {
						require.Equal(t, fixture.TopN(torch, L, i, 1), fixture.TopN(logits, L, i, 1), "top-1 of %s", img.path)
					}
				}
				return
			}
			want := fixture.Widen(base)
			if torch != nil {
				want = torch
			}
			fixture.RequireRelL2(t, "logits", logits, want, tc.bound)
			require.GreaterOrEqual(t, float64(agree), minTop1Agreement*float64(len(imgs)), "top-1 agreement with fp32")
			require.GreaterOrEqual(t, acc, baseAcc-maxAccuracyDrop, "accuracy")
		})
	}
}
