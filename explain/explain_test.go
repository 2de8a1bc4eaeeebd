package explain

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/fixture"
)

// handConfig is a model with a 2×2 patch grid: 4 patches after the special
// tokens (1 for HeadClassifier, 2 otherwise).
func handConfig(head deit.HeadKind, layers, heads int) deit.Config {
	return deit.Config{Hidden: 8 * heads, Layers: layers, Heads: heads, MLP: 8, ImageSize: 2, PatchSize: 1, Channels: 3,
		NumLabels: 2, Eps: 1e-6, Head: head}
}

// probs builds one image's attention [heads, T, T] from explicit rows;
// rows not given are the identity (each token attends to itself).
func probs(heads, T int, rows map[[2]int][]float32) []float32 {
	a := make([]float32, heads*T*T)
	for h := range heads {
		for t := range T {
			row := a[(h*T+t)*T:][:T]
			if r, ok := rows[[2]int{h, t}]; ok {
				copy(row, r)
			} else {
				row[t] = 1
			}
		}
	}
	return a
}

func TestParseMethod(t *testing.T) {
	for in, want := range map[string]Method{"rollout": Rollout, " Last ": Last} {
		m, err := ParseMethod(in)
		require.NoError(t, err)
		require.Equal(t, want, m)
	}
	_, err := ParseMethod("gradcam")
	require.EqualError(t, err, `unknown attention-map method "gradcam" (want rollout or last)`)
}

// TestMapsByHand: maps worked out by hand on a 2×2 grid.
func TestMapsByHand(t *testing.T) {
	c := handConfig(deit.HeadClassifier, 2, 1) // T = 5: [CLS] and 4 patches
	// Layer 0: patch 0 (token 1) attends half to patches 1 and 2; layer 1:
	// [CLS] attends only to patch 0.
	l0 := probs(1, 5, map[[2]int][]float32{{0, 1}: {0, 0, 0.5, 0.5, 0}})
	l1 := probs(1, 5, map[[2]int][]float32{{0, 0}: {0, 1, 0, 0, 0}})
	// Rollout: Ã₁ row [CLS] = ([0 1 0 0 0] + e₀)/2 = [½ ½ 0 0 0]; times Ã₀
	// (row 1 = [0 ½ ¼ ¼ 0], the others e_i) = [½ ¼ ⅛ ⅛ 0]: patches
	// [¼ ⅛ ⅛ 0]/½.
	maps, err := Maps(Rollout, [][]float32{l0, l1}, 0, c)
	require.NoError(t, err)
	require.Len(t, maps, 1)
	require.Equal(t, Map{Method: Rollout, Token: "cls", Head: -1, Rows: 2, Cols: 2, Values: []float64{0.5, 0.25, 0.25, 0}}, maps[0])
	require.Equal(t, "rollout-cls", maps[0].Name())
	// Last: layer 1's [CLS] row over the patches.
	maps, err = Maps(Last, [][]float32{l0, l1}, 0, c)
	require.NoError(t, err)
	require.Len(t, maps, 2, "the mean and the one head")
	require.Equal(t, []float64{1, 0, 0, 0}, maps[0].Values)
	require.Equal(t, "last-cls-mean", maps[0].Name())
	require.Equal(t, "last-cls-head0", maps[1].Name())

	// Two heads, a distilled model (T = 6: [CLS], [DIST], 4 patches), the
	// second image of a batch of two.
	c = handConfig(deit.HeadDistilled, 1, 2)
	img := probs(2, 6, map[[2]int][]float32{
		{0, 0}: {0, 0, 1, 0, 0, 0},             // head 0, [CLS] → patch 0
		{1, 0}: {0.2, 0, 0, 0, 0.4, 0.4},       // head 1, [CLS] → patches 2, 3 and itself
		{0, 1}: {0, 0, 0.25, 0.25, 0.25, 0.25}, // head 0, [DIST] → uniform over the patches
		{1, 1}: {0, 0.5, 0, 0, 0, 0.5},         // head 1, [DIST] → itself and patch 3
	})
	batch := append(make([]float32, len(img)), img...)
	maps, err = Maps(Last, [][]float32{batch}, 1, c)
	require.NoError(t, err)
	names := []string{}
	for _, m := range maps {
		names = append(names, m.Name())
	}
	require.Equal(t, []string{"last-cls-mean", "last-cls-head0", "last-cls-head1", "last-dist-mean", "last-dist-head0", "last-dist-head1"}, names)
	// The head mean of [CLS]: [0.1 0 0.5 0 0.2 0.2], patches [0.5 0 0.2 0.2]/0.9.
	require.InDeltaSlice(t, []float64{5.0 / 9, 0, 2.0 / 9, 2.0 / 9}, maps[0].Values, 1e-7)
	require.Equal(t, []float64{1, 0, 0, 0}, maps[1].Values)
	require.Equal(t, []float64{0, 0, 0.5, 0.5}, maps[2].Values)
	// [DIST]: the mean [0 ¼ ⅛ ⅛ ⅛ ⅜], patches [⅛ ⅛ ⅛ ⅜]/¾.
	require.InDeltaSlice(t, []float64{1.0 / 6, 1.0 / 6, 1.0 / 6, 0.5}, maps[3].Values, 1e-7)
	require.Equal(t, []float64{0, 0, 0, 1}, maps[5].Values)
	require.Equal(t, 1, maps[5].Head)
	_, err = Maps(Last, [][]float32{batch}, 0, c)
	require.ErrorContains(t, err, "image 0: last-cls-mean: attention over the patches sums to 0", "image 0 of the batch is all zeros")
	// Rollout with two heads: Ã row [CLS] = (mean + e₀)/2 =
	// [0.55 0 0.25 0 0.1 0.1]: patches [0.25 0 0.1 0.1]/0.45.
	maps, err = Maps(Rollout, [][]float32{batch}, 1, c)
	require.NoError(t, err)
	require.Len(t, maps, 2)
	require.InDeltaSlice(t, []float64{5.0 / 9, 0, 2.0 / 9, 2.0 / 9}, maps[0].Values, 1e-7)
	require.Equal(t, "rollout-dist", maps[1].Name())
	// [DIST]: (mean + e₁)/2 = [0 ⅝ 1/16 1/16 1/16 3/16]: patches over ⅜.
	require.InDeltaSlice(t, []float64{1.0 / 6, 1.0 / 6, 1.0 / 6, 0.5}, maps[1].Values, 1e-7)
}

// torchMaps is what testdata/gen_attention.py writes.
type torchMaps struct {
	Heads      int         `json:"heads"`
	Batch      int         `json:"batch"`
	Special    int         `json:"special"`
	Attentions [][]float64 `json:"attentions"`
	Rollout    []float64   `json:"rollout"` // [B, S, N]
	Last       []float64   `json:"last"`    // [B, S, heads + 1 (the mean last), N]
}

// TestMapsMatchTorch: the maps of PyTorch's attention probabilities (as
// float32, what an engine returns) match the rollout and last-layer maps
// the generator computed with torch in float64.
func TestMapsMatchTorch(t *testing.T) {
	for _, dir := range []string{"tiny-distilled", "tiny-distilled-timm", "tiny-vit"} {
		t.Run(dir, func(t *testing.T) {
			b, err := os.ReadFile(fixture.Path(dir, "attentions.json"))
			require.NoError(t, err)
			var g torchMaps
			require.NoError(t, json.Unmarshal(b, &g))
			head := deit.HeadDistilled
			if g.Special == 1 {
				head = deit.HeadClassifier
			}
			c := deit.Config{Heads: g.Heads, Layers: len(g.Attentions), ImageSize: 32, PatchSize: 8, Head: head}
			att := make([][]float32, len(g.Attentions))
			for l, a := range g.Attentions {
				att[l] = make([]float32, len(a))
				for i, v := range a {
					att[l][i] = float32(v)
				}
			}
			N, H, S := c.Patches(), g.Heads, g.Special
			for img := range g.Batch {
				roll, err := Maps(Rollout, att, img, c)
				require.NoError(t, err)
				last, err := Maps(Last, att, img, c)
				require.NoError(t, err)
				require.Len(t, roll, S)
				require.Len(t, last, S*(H+1))
				for s := range S {
					// float32 inputs: relative errors of a few 1e-8.
					require.InDeltaSlice(t, g.Rollout[(img*S+s)*N:][:N], roll[s].Values, 1e-6, "image %d token %d rollout", img, s)
					require.InDeltaSlice(t, g.Last[((img*S+s)*(H+1)+H)*N:][:N], last[s*(H+1)].Values, 1e-6, "mean")
					for h := range H {
						require.InDeltaSlice(t, g.Last[((img*S+s)*(H+1)+h)*N:][:N], last[s*(H+1)+1+h].Values, 1e-6, "head %d", h)
					}
					var sum float64
					for _, v := range roll[s].Values {
						sum += v
					}
					require.InDelta(t, 1, sum, 1e-12)
				}
			}
		})
	}
}

func TestMapsErrors(t *testing.T) {
	c := handConfig(deit.HeadClassifier, 1, 1)
	ok := probs(1, 5, map[[2]int][]float32{{0, 0}: {0, 1, 0, 0, 0}})
	_, err := Maps(Rollout, nil, 0, c)
	require.ErrorContains(t, err, "no attention probabilities")
	_, err = Maps(Rollout, [][]float32{ok, ok}, 0, c)
	require.ErrorContains(t, err, "attention of 2 layers for a 1-layer model")
	_, err = Maps(Rollout, [][]float32{ok}, 1, c)
	require.ErrorContains(t, err, "layer 0: 25 attention values hold no image 1 (25 per image)")
	_, err = Maps(Rollout, [][]float32{ok}, -1, c)
	require.ErrorContains(t, err, "hold no image -1")
	nan := append([]float32(nil), ok...)
	nan[3] = float32(math.NaN())
	_, err = Maps(Rollout, [][]float32{nan}, 0, c)
	require.ErrorContains(t, err, "attention value 3 of image 0 is NaN, not a probability")
	_, err = Maps("gradcam", [][]float32{ok}, 0, c)
	require.ErrorContains(t, err, `unknown method "gradcam"`)
	odd := c
	odd.ImageSize = 3 // 3×3 patches: 10 tokens, not the 5 given
	_, err = Maps(Rollout, [][]float32{ok}, 0, odd)
	require.ErrorContains(t, err, "hold no image 0")
	_, err = Maps(Rollout, [][]float32{ok}, 0, deit.Config{Layers: 1})
	require.ErrorContains(t, err, "has no patch grid")
}
