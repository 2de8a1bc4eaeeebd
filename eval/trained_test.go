package eval

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// The trained fixture (testdata/trained/README.md): a small DeiT trained by
// train.py on gen_dataset.py's images, and PyTorch's answers on its test set.
var (
	trainedModel = filepath.Join("..", "testdata", "trained", "model")
	trainedTest  = filepath.Join("..", "testdata", "trained", "test")
)

func loadTrained(t *testing.T) (*deit.Model, fixture.Trained) {
	t.Helper()
	files, err := modeldir.Find(trainedModel)
	require.NoError(t, err)
	m, err := deit.Load(files)
	require.NoError(t, err)
	g := fixture.ReadTrained(t)
	require.Equal(t, g.Classes, m.Config.Labels)
	return m, g
}

// TestTrainedAccuracyMatchesPyTorch evaluates the trained fixture's test
// set on every fp32 engine and requires PyTorch's accuracy exactly: the
// same number of correct images, and the same prediction for every image.
// golden.json's smallest top-1/top-2 logit margin (recorded by train.py) is
// far above fp32's error, so a different answer is a bug, not rounding.
func TestTrainedAccuracyMatchesPyTorch(t *testing.T) {
	m, g := loadTrained(t)
	require.Greater(t, g.MinMargin, 1e-3)
	ds, err := Open(trainedTest, OpenOptions{})
	require.NoError(t, err)
	require.Equal(t, ImageFolder, ds.Layout)
	require.Len(t, ds.Samples, g.Images)
	mp, err := MapLabels(ds.Labels(), m.Config.Labels, MapOptions{})
	require.NoError(t, err)
	for _, l := range ds.Labels() {
		require.Equal(t, "label text", mp.How[l])
	}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) engine.Engine
	}{
		{"ref", func(t *testing.T) engine.Engine {
			e, err := engine.NewReference(m, 16, engine.ReferenceOptions{})
			require.NoError(t, err)
			return e
		}},
		{"cpu", func(t *testing.T) engine.Engine {
			e, err := engine.NewCPU(m, 16, engine.CPUOptions{})
			require.NoError(t, err)
			return e
		}},
		{"gpu", func(t *testing.T) engine.Engine {
			e, err := engine.NewGPU(gputest.Open(t), m, 16, engine.GPUOptions{})
			require.NoError(t, err)
			return e
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := classify.New(m, tc.open(t))
			require.NoError(t, err)
			defer c.Close()
			preds := make([]int, len(g.Paths)) // golden.json's order: by class index, then file
			index := map[string]int{}
			for i, p := range g.Paths {
				index[p] = i
				preds[i] = -1
			}
			rep, err := Evaluate(context.Background(), c, m.Config.Labels, ds, mp, Options{OnImage: func(ir ImageResult) error {
				require.NoError(t, ir.Err)
				rel, err := filepath.Rel(trainedTest, ir.Path)
				require.NoError(t, err)
				i, ok := index[filepath.ToSlash(rel)]
				require.True(t, ok, rel)
				require.Equal(t, g.Labels[i], ir.Class)
				preds[i] = ir.Top[0].Index
				return nil
			}})
			require.NoError(t, err)
			require.Zero(t, rep.Failed)
			require.Equal(t, g.Images, rep.Images)
			require.Equal(t, g.Top1Correct, rep.Top1Correct)
			require.Equal(t, g.Top5Correct, rep.TopKCorrect)
			require.Equal(t, g.Predictions, preds)
			require.GreaterOrEqual(t, rep.Top1(), 95.0)
		})
	}
}

// TestTrainedLogits checks the whole path — decoding, preprocessing, the
// forward pass — against PyTorch's float64 logits on the fixture's test
// images (PNG and JPEG), on the float64 reference engine.
func TestTrainedLogits(t *testing.T) {
	m, g := loadTrained(t)
	e, err := engine.NewReference(m, 32, engine.ReferenceOptions{})
	require.NoError(t, err)
	c, err := classify.New(m, e)
	require.NoError(t, err)
	defer c.Close()
	ins := make([]classify.Input, len(g.Paths))
	for i, p := range g.Paths {
		ins[i] = classify.Input{Path: filepath.Join(trainedTest, filepath.FromSlash(p))}
	}
	res, err := c.Classify(context.Background(), ins, classify.Options{TopK: 1})
	require.NoError(t, err)
	worst := 0.0
	for i, r := range res {
		require.NoError(t, r.Err)
		for j, want := range g.Logits[i] {
			d := float64(r.Logits[j]) - want
			worst = max(worst, d, -d)
		}
	}
	t.Logf("largest logit difference from PyTorch float64: %.3g", worst)
	require.Less(t, worst, 1e-4)
}
