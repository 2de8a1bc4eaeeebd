package deit

import (
	"os"
	"testing"

	"github.com/vkdeit/vkdeit/internal/fixture"
)

// FuzzHFConfig fuzzes config.json parsing and its interpretation. Whatever
// ConfigFromHF accepts must be a valid Config with a name for every label.
func FuzzHFConfig(f *testing.F) {
	for _, dir := range []string{"tiny-distilled", "tiny-vit"} {
		if b, err := os.ReadFile(fixture.Path(dir, "config.json")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"model_type": "vit", "hidden_size": 192, "num_labels": 10, "image_size": [384, 384]}`))
	f.Add([]byte(`{"architectures": ["DeiTForImageClassification"], "id2label": {"0": "a", "2": "c"}, "num_labels": 3}`))
	f.Add([]byte(`{"patch_size": [16, 16], "layer_norm_eps": 1e-6, "qkv_bias": true, "hidden_act": "GELU"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"num_hidden_layers": 1e3, "id2label": {"1048575": "x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		hf, err := parseConfig(data)
		if err != nil {
			return
		}
		if !hf.Found || hf.HiddenSize <= 0 || hf.NumHiddenLayers <= 0 || hf.NumAttentionHeads <= 0 ||
			hf.ImageSize <= 0 || hf.PatchSize <= 0 || hf.NumChannels <= 0 || !(hf.LayerNormEps > 0 && hf.LayerNormEps < 1) {
			t.Fatalf("accepted an unusable config: %+v", hf)
		}
		for i := range hf.ID2Label {
			if i < 0 || i >= hf.NumLabels {
				t.Fatalf("label %d outside %d labels", i, hf.NumLabels)
			}
		}
		cfg, err := ConfigFromHF(hf)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ConfigFromHF gave an invalid config: %v", err)
		}
		if len(cfg.Labels) != cfg.NumLabels {
			t.Fatalf("%d label names for %d labels", len(cfg.Labels), cfg.NumLabels)
		}
	})
}
