package classify

import (
	"context"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/internal/fixture/fixturemodel"
	"github.com/vkdeit/vkdeit/internal/ref"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

func TestTopK(t *testing.T) {
	labels := []string{"a", "b", "", "d"}
	logits := []float32{1, 3, 3, -2}
	top, err := TopK(logits, 3, labels)
	require.NoError(t, err)
	p := ref.Softmax(logits)
	require.Equal(t, []Prediction{
		{Label: "b", Score: p[1], Index: 1, Logit: 3},
		{Label: "LABEL_2", Score: p[2], Index: 2, Logit: 3}, // tie: lower index first; placeholder name
		{Label: "a", Score: p[0], Index: 0, Logit: 1},
	}, top)
	all, err := TopK(logits, 100, labels)
	require.NoError(t, err)
	require.Len(t, all, 4, "k is clamped to the class count")
	var sum float64
	for _, pr := range all {
		sum += pr.Score
	}
	require.InDelta(t, 1, sum, 1e-15)
	// Huge logits do not overflow the softmax.
	big, err := TopK([]float32{3e38, 3e38}, 1, nil)
	require.NoError(t, err)
	require.Equal(t, 0.5, big[0].Score)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		_, err := TopK([]float32{1, bad}, 1, nil)
		require.ErrorIs(t, err, ErrNonFinite)
	}
}

// tinyModel loads the committed tiny distilled fixture.
func tinyModel(t *testing.T) *deit.Model { return fixturemodel.Tiny(t) }

// newReference is the reference engine for m, batches up to B.
func newReference(t *testing.T, m *deit.Model, B int) engine.Engine {
	t.Helper()
	e, err := engine.NewReference(m, B, engine.ReferenceOptions{})
	require.NoError(t, err)
	return e
}

func TestClassifierStream(t *testing.T) {
	m := tinyModel(t)
	c, err := New(m, newReference(t, m, 2))
	require.NoError(t, err)
	defer c.Close()

	pngPath := fixture.Path("grace_hopper_96x112.png")
	data, err := os.ReadFile(pngPath)
	require.NoError(t, err)
	f, err := os.Open(pngPath)
	require.NoError(t, err)
	decoded, err := png.Decode(f)
	f.Close()
	require.NoError(t, err)
	pixels, err := Prepare(context.Background(), m, Input{Path: pngPath}, imageio.DecodeOptions{})
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.png")
	require.NoError(t, os.WriteFile(bad, []byte("not an image"), 0o644))

	inputs := []Input{
		{Path: pngPath},
		{Path: bad},
		{Name: "bytes", Data: data},
		{Name: "decoded", Image: decoded},
		{Name: "pixels", Pixels: pixels},
		{Name: "short pixels", Pixels: pixels[:10]},
		{Name: "two sources", Path: pngPath, Data: data},
	}
	res, err := c.Classify(context.Background(), inputs, Options{TopK: 3, Embeddings: true, Workers: 3})
	require.NoError(t, err)
	require.Len(t, res, len(inputs))

	want, err := engine.RunReference(context.Background(), m, pixels, 1, deit.TapEmbeddings)
	require.NoError(t, err)
	wantTop, err := TopK(want.Logits, 3, m.Config.Labels)
	require.NoError(t, err)
	D := m.Config.Hidden
	for i, r := range res {
		require.Equal(t, i, r.Index, "results come in input order")
		switch i {
		case 1:
			require.ErrorIs(t, r.Err, imageio.ErrUnsupportedImage)
			require.ErrorContains(t, r.Err, "bad.png")
			require.Nil(t, r.Top)
		case 5:
			require.ErrorContains(t, r.Err, "short pixels: got 10 pixel values, want B×C×H×W = 1×3×32×32 = 3072")
		case 6:
			require.ErrorContains(t, r.Err, "two sources: an input needs exactly one of Path, Data, Image and Pixels (has 2)")
		default:
			// The same picture by every route gives the reference's answer.
			require.NoError(t, r.Err, r.Name)
			require.Equal(t, wantTop, r.Top, r.Name)
			require.Equal(t, want.Logits, r.Logits, r.Name)
			require.Equal(t, want.Embeddings[:D], r.Embedding, r.Name)
			require.Equal(t, want.Embeddings[D:2*D], r.DistillationEmbedding, r.Name)
			require.Positive(t, r.BatchSize)
			require.LessOrEqual(t, r.BatchSize, 2)
		}
	}
	require.Equal(t, pngPath, res[0].Name)
	require.Equal(t, "bytes", res[2].Name)

	// An error from yield stops the stream and comes back.
	stop := errors.New("stop")
	n := 0
	err = c.Stream(context.Background(), inputs, Options{}, func(Result) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)

	// A cancelled context stops it too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Classify(ctx, inputs, Options{})
	require.ErrorIs(t, err, context.Canceled)
}

// nanEngine returns NaN logits, as a model with NaN weights would.
type nanEngine struct{ engine.Engine }

func (e nanEngine) Run(ctx context.Context, px []float32, B int, taps deit.Tap) (*engine.Output, error) {
	out := &engine.Output{Logits: make([]float32, B*e.Config().NumLabels)}
	for i := range out.Logits {
		out.Logits[i] = float32(math.NaN())
	}
	return out, nil
}

func TestClassifierNonFiniteLogits(t *testing.T) {
	m := tinyModel(t)
	c, err := New(m, nanEngine{newReference(t, m, 4)})
	require.NoError(t, err)
	img := image.NewGray(image.Rect(0, 0, 40, 40))
	_, err = c.ClassifyImage(context.Background(), img, 5)
	require.ErrorIs(t, err, ErrNonFinite, "a NaN ranking is never printed")
}

func TestNewClassifierRejectsMismatch(t *testing.T) {
	m := tinyModel(t)
	other := m.Config
	other.NumLabels, other.Labels = 3, nil
	_, err := New(m, newReference(t, &deit.Model{Config: other, Weights: deit.RandomWeights(other, 1)}, 1))
	require.ErrorContains(t, err, "another model")
}

func TestSoftmaxMatchesTopK(t *testing.T) {
	logits := []float32{1, 3, 3, -2, 80}
	p := make([]float32, len(logits))
	Softmax(p, logits)
	top, err := TopK(logits, len(logits), nil)
	require.NoError(t, err)
	for _, pr := range top {
		require.Equal(t, float32(pr.Score), p[pr.Index])
	}
}
