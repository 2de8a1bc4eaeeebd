package eval

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
)

func TestScorer(t *testing.T) {
	labels := []string{"a", "b", "c", "d", "e", "f", "g"}
	s := NewScorer(labels, nil)
	require.Equal(t, 5, s.K())
	add := func(label int, logits ...float32) int {
		top, err := s.Add(label, logits)
		require.NoError(t, err)
		return top[0].Index
	}
	require.Equal(t, 0, add(0, 9, 1, 1, 1, 1, 1, 1)) // right
	require.Equal(t, 1, add(0, 5, 6, 1, 1, 1, 1, 1)) // wrong, second
	require.Equal(t, 2, add(6, 1, 1, 9, 8, 7, 6, 0)) // wrong, not in the top 5
	require.Equal(t, 1, add(1, 0, 3, 3, 0, 0, 0, 0)) // a tie goes to the lower index
	require.Equal(t, 1, add(2, 0, 3, 3, 0, 0, 0, 0)) // … so this one is wrong
	_, err := s.Add(0, []float32{float32(math.NaN()), 0, 0, 0, 0, 0, 0})
	require.ErrorContains(t, err, "non-finite")
	_, err = s.Add(0, []float32{0})
	require.ErrorContains(t, err, "1 logits for a model of 7 classes")
	r := s.Results()
	require.Equal(t, 5, r.Images)
	require.Equal(t, 2, r.Top1Correct)
	require.Equal(t, 4, r.TopKCorrect)
	require.InDelta(t, 40.0, r.Top1(), 1e-12)
	require.InDelta(t, math.Sqrt(40*60/5.0), r.StdErr(r.Top1()), 1e-12)
	require.Equal(t, []ClassResult{{0, "a", 2, 1, 2}, {1, "b", 1, 1, 1}, {2, "c", 1, 0, 1}, {6, "g", 1, 0, 0}}, r.Classes)
	require.Equal(t, map[[2]int]int{{0, 0}: 1, {0, 1}: 1, {6, 2}: 1, {1, 1}: 1, {2, 1}: 1}, r.Confusion)

	var csv bytes.Buffer
	require.NoError(t, r.WriteConfusionCSV(&csv, labels))
	require.Equal(t, "true \\ predicted,0 a,1 b,2 c,6 g\n0 a,1,1,0,0\n1 b,0,1,0,0\n2 c,0,1,0,0\n6 g,0,0,1,0\n", csv.String())
	var pic bytes.Buffer
	require.NoError(t, r.WriteConfusionPNG(&pic))
	img, err := png.Decode(&pic)
	require.NoError(t, err)
	require.Equal(t, 64, img.Bounds().Dx()) // 4 classes × 16 px
	cr, cg, cb, _ := img.At(8, 8).RGBA()    // (a, a): half of class a's images
	require.Equal(t, [3]uint32{255 - 124, 255 - 104, 255 - 74}, [3]uint32{cr >> 8, cg >> 8, cb >> 8})
	cr, _, _, _ = img.At(3*16+8, 8).RGBA() // (a, g): none
	require.Equal(t, uint32(255), cr>>8)
}

func TestScorerSubset(t *testing.T) {
	s := NewScorer([]string{"a", "b", "c", "d"}, []int{1, 3})
	require.Equal(t, 2, s.K())
	top, err := s.Add(3, []float32{9, 1, 8, 2}) // a and c are outside the subset
	require.NoError(t, err)
	require.Equal(t, 3, top[0].Index)
	require.Equal(t, "d", top[0].Label)
	require.Equal(t, 1, top[1].Index)
	require.InDelta(t, 1/(1+math.Exp(-1)), top[0].Score, 1e-9) // softmax over the subset
	require.Equal(t, 1, s.Results().Top1Correct)
}

func TestNewLine(t *testing.T) {
	cfg, err := deit.Preset("tiny-distilled")
	require.NoError(t, err)
	m := &deit.Model{Config: cfg, Weights: deit.RandomWeights(cfg, 1)}
	r := &Results{Images: 3, Top1Correct: 2, TopKCorrect: 3}
	l := NewLine("facebook/deit-tiny-distilled-patch16-224", m, r)
	require.Equal(t, Line{Model: "facebook/deit-tiny-distilled-patch16-224", Top1: 66.6667, Top1Err: 33.3333, Top5: 100, Top5Err: 0,
		ParamCount: 5.91, ImgSize: 224, CropPct: 0.875, Interpolation: "bicubic"}, l)
	var b bytes.Buffer
	require.NoError(t, l.WriteCSV(&b))
	require.Equal(t, "model,top1,top1_err,top5,top5_err,param_count,img_size,crop_pct,interpolation\n"+
		"facebook/deit-tiny-distilled-patch16-224,66.6667,33.3333,100,0,5.91,224,0.875,bicubic\n", b.String())
	b.Reset()
	require.NoError(t, l.WriteJSON(&b))
	require.Equal(t, `{"model":"facebook/deit-tiny-distilled-patch16-224","top1":66.6667,"top1_err":33.3333,"top5":100,"top5_err":0,`+
		`"param_count":5.91,"img_size":224,"crop_pct":0.875,"interpolation":"bicubic"}`+"\n", b.String())
	require.Equal(t, 5_910_800, m.Weights.Count()) // docs/model.md's count for deit-tiny-distilled
}
