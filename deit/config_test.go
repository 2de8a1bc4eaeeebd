package deit

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/loader/imageio"
)

// TestPresets checks every preset against docs/model.md, including the
// parameter counts listed there (which pin down the token counts).
func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		name                                  string
		hidden, heads, image, tokens, special int
		head                                  HeadKind
		params                                int
		skipParams                            bool // base models: 350 MB of random weights is too slow for a unit test
	}{
		{"tiny-distilled", 192, 3, 224, 198, 2, HeadDistilled, 5_910_800, false},
		{"small-distilled", 384, 6, 224, 198, 2, HeadDistilled, 22_436_432, false},
		{"base-distilled", 768, 12, 224, 198, 2, HeadDistilled, 87_338_192, true},
		{"base-distilled-384", 768, 12, 384, 578, 2, HeadDistilled, 87_630_032, true},
		{"tiny", 192, 3, 224, 197, 1, HeadClassifier, 5_717_416, false},
		{"small", 384, 6, 224, 197, 1, HeadClassifier, 22_050_664, false},
		{"base", 768, 12, 224, 197, 1, HeadClassifier, 86_567_656, true},
		{"base-384", 768, 12, 384, 577, 1, HeadClassifier, 86_859_496, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Preset(tc.name)
			require.NoError(t, err)
			require.NoError(t, c.Validate())
			require.Equal(t, tc.hidden, c.Hidden)
			require.Equal(t, tc.heads, c.Heads)
			require.Equal(t, 64, c.HeadDim())
			require.Equal(t, 12, c.Layers)
			require.Equal(t, 4*tc.hidden, c.MLP)
			require.Equal(t, tc.image, c.ImageSize)
			require.Equal(t, tc.tokens, c.Tokens())
			require.Equal(t, tc.special, c.Special())
			require.Equal(t, tc.tokens-tc.special, c.Patches())
			require.Equal(t, tc.head, c.Head)
			require.Equal(t, float32(1e-12), c.Eps)
			require.Len(t, c.Labels, 1000)
			require.Equal(t, "LABEL_999", c.Labels[999])
			// Closed form: patch conv + per layer (4 D×D Linear, 2 MLP
			// Linear, 2 LayerNorm) + tokens + final norm + heads.
			D, M := tc.hidden, 4*tc.hidden
			perLayer := 4*(D*D+D) + (M*D + M) + (D*M + D) + 4*D
			heads := 1
			if tc.head == HeadDistilled {
				heads = 2
			}
			closed := (D*3*16*16 + D) + 12*perLayer + tc.special*D + tc.tokens*D + 2*D + heads*(1000*D+1000)
			require.Equal(t, tc.params, closed)
			if !tc.skipParams {
				require.Equal(t, tc.params, RandomWeights(c, 1).Count())
			}
		})
	}
	_, err := Preset("huge")
	require.ErrorContains(t, err, `unknown preset "huge" (have base, base-384, base-distilled`)
}

func TestFLOPs(t *testing.T) {
	c, err := Preset("small-distilled")
	require.NoError(t, err)
	// The figure: ≈ 9.25 GFLOP per image including attention.
	require.InDelta(t, 9.25e9, c.FLOPs(), 0.01e9)

	// A one-layer model small enough to count by hand: a 2×2 one-channel
	// image with 1×1 patches (N=4), D=2, M=4, 3 labels.
	tiny := Config{Hidden: 2, Layers: 1, Heads: 1, MLP: 4, ImageSize: 2, PatchSize: 1, Channels: 1,
		NumLabels: 3, Eps: 1e-6, Head: HeadClassifier}
	// T=5. patch 4·2·1 = 8; QKV 5·(3·2)·2 = 60; QKᵀ and AV 2·5·5·2 = 100;
	// proj 5·2·2 = 20; MLP 2·5·2·4 = 80; head 2·3 = 6.
	require.Equal(t, 2*(8+60+100+20+80+6.0), tiny.FLOPs())
	// Distilled: T=6 and two heads. 8 + 72 + 144 + 24 + 96 + 12.
	tiny.Head = HeadDistilled
	require.Equal(t, 2*(8+72+144+24+96+12.0), tiny.FLOPs())
}

func TestConfigFromHF(t *testing.T) {
	base := func() *HFConfig {
		c := DefaultHFConfig()
		c.Found = true
		c.ModelType = "deit"
		c.Architectures = []string{"DeiTForImageClassificationWithTeacher"}
		c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 64, 2, 2, 256
		c.ImageSize, c.PatchSize = 32, 8
		c.ID2Label = map[int]string{0: "zero", 1: "one", 3: "three"}
		c.NumLabels = 3
		return c
	}
	for _, tc := range []struct {
		name    string
		edit    func(c *HFConfig)
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{"with teacher", func(c *HFConfig) {}, func(t *testing.T, c Config) {
			require.Equal(t, Config{Hidden: 64, Layers: 2, Heads: 2, MLP: 256, ImageSize: 32, PatchSize: 8, Channels: 3,
				NumLabels: 4, Eps: 1e-12, Head: HeadDistilled, Labels: []string{"zero", "one", "LABEL_2", "three"}}, c)
			require.Equal(t, 18, c.Tokens())
		}, ""},
		{"deit classifier", func(c *HFConfig) { c.Architectures = []string{"DeiTForImageClassification"} },
			func(t *testing.T, c Config) {
				require.Equal(t, HeadDistilledClassifier, c.Head)
				require.Equal(t, 18, c.Tokens())
			}, ""},
		{"vit", func(c *HFConfig) { c.ModelType = "vit"; c.Architectures = []string{"ViTForImageClassification"} },
			func(t *testing.T, c Config) {
				require.Equal(t, HeadClassifier, c.Head)
				require.Equal(t, 17, c.Tokens())
			}, ""},
		{"no architectures vit", func(c *HFConfig) { c.ModelType = "vit"; c.Architectures = nil },
			func(t *testing.T, c Config) { require.Equal(t, HeadClassifier, c.Head) }, ""},
		{"no architectures deit", func(c *HFConfig) { c.Architectures = nil },
			func(t *testing.T, c Config) { require.Equal(t, HeadDistilled, c.Head) }, ""},
		{"no id2label", func(c *HFConfig) { c.ID2Label = nil; c.NumLabels = 2 },
			func(t *testing.T, c Config) { require.Equal(t, []string{"LABEL_0", "LABEL_1"}, c.Labels) }, ""},
		{"eps", func(c *HFConfig) { c.LayerNormEps = 1e-6 },
			func(t *testing.T, c Config) { require.Equal(t, float32(1e-6), c.Eps) }, ""},
		{"masked image modeling", func(c *HFConfig) { c.Architectures = []string{"DeiTForMaskedImageModeling"} },
			nil, `architectures ["DeiTForMaskedImageModeling"]: none is an image classifier`},
		{"gelu_new", func(c *HFConfig) { c.HiddenAct = "gelu_new" }, nil, `hidden_act "gelu_new" is not supported`},
		{"no qkv bias", func(c *HFConfig) { c.QKVBias = false }, nil, "qkv_bias false"},
		{"heads", func(c *HFConfig) { c.NumAttentionHeads = 3 }, nil, "hidden size 64 is not a multiple of 3 heads"},
		{"patch", func(c *HFConfig) { c.PatchSize = 64 }, nil, "image size 32 and patch size 64"},
		{"labels", func(c *HFConfig) { c.ID2Label = nil; c.NumLabels = 0 }, nil, "num labels 0"},
		{"absurd num_labels", func(c *HFConfig) { c.ID2Label = nil; c.NumLabels = 1e12 }, nil, "num_labels 1000000000000 is more than 1048576"},
		{"absurd id2label index", func(c *HFConfig) { c.ID2Label = map[int]string{999_999_999_999: "x"}; c.NumLabels = 1e12 },
			nil, "id2label index 999999999999 is out of range [0, 1048576)"},
		{"negative id2label index", func(c *HFConfig) { c.ID2Label = map[int]string{-1: "x"} }, nil, "id2label index -1 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hf := base()
			tc.edit(hf)
			c, err := ConfigFromHF(hf)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestHeadKindString(t *testing.T) {
	require.Equal(t, "DeiTForImageClassificationWithTeacher", HeadDistilled.String())
	require.Equal(t, "ViTForImageClassification", HeadClassifier.String())
	require.Equal(t, "DeiTForImageClassification", HeadDistilledClassifier.String())
	require.Equal(t, "HeadKind(7)", HeadKind(7).String())
}

// TestDefaultPreprocessor: without preprocessor_config.json the resize and
// crop follow the model's image size as timm's crop_pct 0.875 derives them;
// at 224 that is DeiT's own preprocessing.
func TestDefaultPreprocessor(t *testing.T) {
	for _, tc := range []struct{ size, resize int }{{224, 256}, {384, 438}, {32, 36}, {96, 109}} {
		p := Config{ImageSize: tc.size}.DefaultPreprocessor()
		require.Equal(t, [4]int{tc.resize, tc.resize, tc.size, tc.size}, [4]int{p.Height, p.Width, p.CropH, p.CropW}, "size %d", tc.size)
	}
	require.Equal(t, imageio.DefaultPreprocessor(), Config{ImageSize: 224}.DefaultPreprocessor())
}
