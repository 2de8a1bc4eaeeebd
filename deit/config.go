package deit

import (
	"fmt"
	"slices"
	"strings"
)

// HeadKind says which special tokens a model has and how its logits are made
// from them.
type HeadKind int

const (
	// HeadDistilled is DeiTForImageClassificationWithTeacher: two special
	// tokens ([CLS], [DIST]) and logits = (cls head(z0) + dist head(z1)) / 2.
	HeadDistilled HeadKind = iota
	// HeadClassifier is ViTForImageClassification (the non-distilled
	// facebook/deit-* checkpoints): one special token ([CLS]) and one
	// classifier on it.
	HeadClassifier
	// HeadDistilledClassifier is DeiTForImageClassification: two special
	// tokens like HeadDistilled (the [DIST] token still takes part in
	// attention) but a single classifier on token 0; Weights.DistW is nil.
	HeadDistilledClassifier
)

// String names the head the way Hugging Face names the model class.
func (h HeadKind) String() string {
	switch h {
	case HeadDistilled:
		return "DeiTForImageClassificationWithTeacher"
	case HeadClassifier:
		return "ViTForImageClassification"
	case HeadDistilledClassifier:
		return "DeiTForImageClassification"
	}
	return fmt.Sprintf("HeadKind(%d)", int(h))
}

// Config is everything about a DeiT / ViT classifier's shape that the
// forward pass needs. Hidden must be a multiple of Heads; ImageSize is the
// square input side and must be at least PatchSize (remainder pixels beyond
// a multiple of PatchSize are dropped, as by PyTorch's strided conv).
type Config struct {
	Hidden    int // D, the token width
	Layers    int // encoder blocks
	Heads     int // attention heads; head dim = Hidden/Heads
	MLP       int // MLP (intermediate) width
	ImageSize int // input height = width in pixels
	PatchSize int // P, patch side (conv kernel = stride)
	Channels  int // input channels, 3 for RGB
	NumLabels int // classifier outputs
	Eps       float32
	Head      HeadKind
	Labels    []string // NumLabels names ("LABEL_i" where the config has none)
}

// Special is the number of special tokens in front of the patches:
// 1 for HeadClassifier, 2 ([CLS], [DIST]) otherwise.
func (c Config) Special() int {
	if c.Head == HeadClassifier {
		return 1
	}
	return 2
}

// grid is the number of patches along each image side.
func (c Config) grid() int {
	if c.PatchSize <= 0 {
		return 0
	}
	return c.ImageSize / c.PatchSize
}

// Patches is the number of image patches, (ImageSize/PatchSize)².
func (c Config) Patches() int { g := c.grid(); return g * g }

// Tokens is the sequence length T = Special() + Patches().
func (c Config) Tokens() int { return c.Special() + c.Patches() }

// HeadDim is the per-head width Hidden/Heads.
func (c Config) HeadDim() int {
	if c.Heads <= 0 {
		return 0
	}
	return c.Hidden / c.Heads
}

// HeadTokens is how many leading tokens of each image the head reads, one
// per linear head: [CLS] and [DIST] for HeadDistilled, else [CLS] alone.
func (c Config) HeadTokens() int {
	if c.Head == HeadDistilled {
		return 2
	}
	return 1
}

// FLOPs is the floating-point work of one image's forward pass, counted as
// 2 × multiply-adds of every matrix product: the patch embedding, Q/K/V,
// the attention scores Q·Kᵀ and the weighted sum A·V, the attention output
// projection, both MLP layers, and the head(s). LayerNorm, softmax, GELU,
// the residual adds and the biases are not counted (they are O(T·D), under
// 1% of the total). For deit-small-distilled this is 9.25 GFLOP per image,
// of which 8.5 are the weight matmuls and 0.72 the attention products.
func (c Config) FLOPs() float64 {
	D, T, M := float64(c.Hidden), float64(c.Tokens()), float64(c.MLP)
	patch := float64(c.Patches()) * D * float64(c.Channels*c.PatchSize*c.PatchSize)
	layer := T*D*3*D + // Q, K, V
		2*T*T*D + // Q·Kᵀ over all heads, then A·V
		T*D*D + // attention output projection
		2*T*D*M // fc1 and fc2
	heads := float64(c.HeadTokens()) * D * float64(c.NumLabels)
	return 2 * (patch + float64(c.Layers)*layer + heads)
}

// CheckPixels reports a pixel slice that is not B images of the model's
// input shape [Channels, ImageSize, ImageSize], or that holds a NaN or an
// infinity (which would make every logit of its image NaN).
func (c Config) CheckPixels(pixels []float32, B int) error {
	if B < 1 {
		return fmt.Errorf("batch size %d, want at least 1", B)
	}
	per := c.Channels * c.ImageSize * c.ImageSize
	if per <= 0 || len(pixels)%per != 0 || len(pixels)/per != B {
		return fmt.Errorf("got %d pixel values, want B×C×H×W = %d×%d×%d×%d = %d",
			len(pixels), B, c.Channels, c.ImageSize, c.ImageSize, B*per)
	}
	if i := firstNonFinite(pixels); i >= 0 {
		plane := c.ImageSize * c.ImageSize
		b, r := i/per, i%per
		return fmt.Errorf("pixel value %d (image %d, channel %d, row %d, column %d) is %v",
			i, b, r/plane, r%plane/c.ImageSize, r%c.ImageSize, pixels[i])
	}
	return nil
}

// Validate reports the first field that makes the config unusable.
func (c Config) Validate() error {
	switch {
	case c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.MLP <= 0:
		return fmt.Errorf("hidden %d, layers %d, heads %d, mlp %d: all must be positive", c.Hidden, c.Layers, c.Heads, c.MLP)
	case c.Hidden%c.Heads != 0:
		return fmt.Errorf("hidden size %d is not a multiple of %d heads", c.Hidden, c.Heads)
	case c.PatchSize <= 0 || c.ImageSize < c.PatchSize:
		return fmt.Errorf("image size %d and patch size %d: need 0 < patch ≤ image", c.ImageSize, c.PatchSize)
	case c.Channels <= 0:
		return fmt.Errorf("channels %d must be positive", c.Channels)
	case c.NumLabels <= 0:
		return fmt.Errorf("num labels %d must be positive", c.NumLabels)
	case !(c.Eps > 0):
		return fmt.Errorf("layer norm eps %g must be positive", c.Eps)
	case c.Head < HeadDistilled || c.Head > HeadDistilledClassifier:
		return fmt.Errorf("unknown head kind %d", int(c.Head))
	case c.Labels != nil && len(c.Labels) != c.NumLabels:
		return fmt.Errorf("%d label names for %d labels", len(c.Labels), c.NumLabels)
	}
	return nil
}

// maxLabels bounds the class count ConfigFromHF accepts before it allocates
// label names: far above any real classifier (ImageNet-21k has 21,843), far
// below what a mistaken or hostile config.json could ask for.
const maxLabels = 1 << 20

// genericLabels returns "LABEL_0".."LABEL_{n-1}", the names Hugging Face
// gives classes when a config has no id2label.
func genericLabels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("LABEL_%d", i)
	}
	return out
}

// ConfigFromHF turns a Hugging Face config.json (DeiTConfig or ViTConfig)
// into a Config. The architectures list decides the head:
// DeiTForImageClassificationWithTeacher → HeadDistilled,
// DeiTForImageClassification → HeadDistilledClassifier,
// ViTForImageClassification → HeadClassifier; with no architectures,
// model_type "vit" means HeadClassifier and anything else HeadDistilled (Load
// then trusts the tensor names instead). Labels come from id2label (missing
// indices become "LABEL_i"); without id2label, NumLabels is taken from the
// config and Load corrects it from the classifier's rows. Only the exact
// erf GELU and models with Q/K/V biases are supported.
func ConfigFromHF(c *HFConfig) (Config, error) {
	if c == nil {
		return Config{}, fmt.Errorf("deit: nil config")
	}
	cfg := Config{
		Hidden: c.HiddenSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads, MLP: c.IntermediateSize,
		ImageSize: c.ImageSize, PatchSize: c.PatchSize, Channels: c.NumChannels,
		Eps: float32(c.LayerNormEps),
	}
	head, err := headFromArchitectures(c.Architectures, c.ModelType)
	if err != nil {
		return Config{}, err
	}
	cfg.Head = head
	if act := strings.ToLower(c.HiddenAct); act != "" && act != "gelu" {
		return Config{}, fmt.Errorf("deit: config hidden_act %q is not supported (only the exact erf \"gelu\")", c.HiddenAct)
	}
	if !c.QKVBias {
		return Config{}, fmt.Errorf("deit: config qkv_bias false is not supported (every DeiT has Q/K/V biases)")
	}
	if len(c.ID2Label) > 0 {
		n := 0
		for i := range c.ID2Label {
			if i < 0 || i >= maxLabels {
				return Config{}, fmt.Errorf("deit: config id2label index %d is out of range [0, %d)", i, maxLabels)
			}
			n = max(n, i+1)
		}
		cfg.NumLabels = n
		cfg.Labels = genericLabels(n)
		for i, s := range c.ID2Label {
			cfg.Labels[i] = s
		}
	} else {
		cfg.NumLabels = c.NumLabels
		if cfg.NumLabels > maxLabels {
			return Config{}, fmt.Errorf("deit: config num_labels %d is more than %d", cfg.NumLabels, maxLabels)
		}
		if cfg.NumLabels > 0 {
			cfg.Labels = genericLabels(cfg.NumLabels)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("deit: config: %w", err)
	}
	return cfg, nil
}

func headFromArchitectures(archs []string, modelType string) (HeadKind, error) {
	for _, a := range archs {
		switch a {
		case "DeiTForImageClassificationWithTeacher":
			return HeadDistilled, nil
		case "DeiTForImageClassification":
			return HeadDistilledClassifier, nil
		case "ViTForImageClassification":
			return HeadClassifier, nil
		}
	}
	if len(archs) > 0 {
		return 0, fmt.Errorf("deit: config architectures %q: none is an image classifier this engine runs "+
			"(DeiTForImageClassificationWithTeacher, DeiTForImageClassification, ViTForImageClassification)", archs)
	}
	if modelType == "vit" {
		return HeadClassifier, nil
	}
	return HeadDistilled, nil
}

// presets are the facebook/deit-* checkpoints (docs/model.md#configuration).
var presets = map[string]Config{
	"tiny-distilled":     {Hidden: 192, Layers: 12, Heads: 3, MLP: 768, ImageSize: 224, Head: HeadDistilled},
	"small-distilled":    {Hidden: 384, Layers: 12, Heads: 6, MLP: 1536, ImageSize: 224, Head: HeadDistilled},
	"base-distilled":     {Hidden: 768, Layers: 12, Heads: 12, MLP: 3072, ImageSize: 224, Head: HeadDistilled},
	"base-distilled-384": {Hidden: 768, Layers: 12, Heads: 12, MLP: 3072, ImageSize: 384, Head: HeadDistilled},
	"tiny":               {Hidden: 192, Layers: 12, Heads: 3, MLP: 768, ImageSize: 224, Head: HeadClassifier},
	"small":              {Hidden: 384, Layers: 12, Heads: 6, MLP: 1536, ImageSize: 224, Head: HeadClassifier},
	"base":               {Hidden: 768, Layers: 12, Heads: 12, MLP: 3072, ImageSize: 224, Head: HeadClassifier},
	"base-384":           {Hidden: 768, Layers: 12, Heads: 12, MLP: 3072, ImageSize: 384, Head: HeadClassifier},
}

// Preset returns the configuration of a facebook/deit-* checkpoint by short
// name: "tiny-distilled", "small-distilled", "base-distilled",
// "base-distilled-384" (DeiTForImageClassificationWithTeacher) or "tiny",
// "small", "base", "base-384" (ViT layout). All use patch 16, 3 channels,
// 1000 generic labels and the Hugging Face LayerNorm eps 1e-12. Use it with
// RandomWeights to benchmark or test without downloading a checkpoint.
func Preset(name string) (Config, error) {
	c, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("deit: unknown preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
	}
	c.PatchSize, c.Channels, c.NumLabels, c.Eps = 16, 3, 1000, 1e-12
	c.Labels = genericLabels(c.NumLabels)
	return c, nil
}

// PresetNames lists the names Preset knows, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
