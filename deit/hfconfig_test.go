package deit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadConfig checks explicit values, defaults for missing keys and the
// id2label conversion.
func TestReadConfig(t *testing.T) {
	full := writeConfig(t, string(`{
  "_name_or_path": "facebook/deit-small-distilled-patch16-224",
  "architectures": ["DeiTForImageClassificationWithTeacher"],
  "model_type": "deit", "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
  "intermediate_size": 1536, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "image_size": 224,
  "patch_size": 16, "num_channels": 3, "qkv_bias": false, "torch_dtype": "float32",
  "id2label": {"0": "tench, Tinca tinca", "1": "goldfish", "2": "crane"},
  "label2id": {"tench, Tinca tinca": 0, "goldfish": 1, "crane": 2}
}`))
	c, err := ReadHFConfig(full)
	require.NoError(t, err)
	require.Equal(t, &HFConfig{
		ModelType: "deit", Architectures: []string{"DeiTForImageClassificationWithTeacher"},
		HiddenSize: 384, NumHiddenLayers: 12, NumAttentionHeads: 6, IntermediateSize: 1536,
		HiddenAct: "gelu", LayerNormEps: 1e-12, ImageSize: 224, PatchSize: 16, NumChannels: 3,
		QKVBias: false, NumLabels: 3, ID2Label: map[int]string{0: "tench, Tinca tinca", 1: "goldfish", 2: "crane"},
		Found: true,
	}, c)

	// Missing keys take DeiTConfig defaults; num_labels without id2label.
	sparse := writeConfig(t, string(`{"model_type": "vit", "hidden_size": 192, "num_labels": 10, "image_size": [384, 384]}`))
	c, err = ReadHFConfig(sparse)
	require.NoError(t, err)
	want := DefaultHFConfig()
	want.ModelType, want.HiddenSize, want.NumLabels, want.ImageSize, want.Found = "vit", 192, 10, 384, true
	require.Equal(t, want, c)
	require.True(t, c.QKVBias)
	require.Equal(t, 1e-12, c.LayerNormEps)
	require.Equal(t, "gelu", c.HiddenAct)
	require.Equal(t, 3072, c.IntermediateSize)

	d := DefaultHFConfig()
	require.False(t, d.Found)
	require.Equal(t, 768, d.HiddenSize)
	require.Equal(t, 12, d.NumHiddenLayers)
	require.Equal(t, 12, d.NumAttentionHeads)
	require.Equal(t, 16, d.PatchSize)
	require.Equal(t, 224, d.ImageSize)
	require.Equal(t, 3, d.NumChannels)
	require.Zero(t, d.NumLabels)
	require.Nil(t, d.ID2Label)
}

// TestReadConfigErrors checks that bad configs fail naming file and key.
func TestReadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, msg string
	}{
		{"syntax", `{"hidden_size": 384,`, "config.json"},
		{"type", `{"hidden_size": "big"}`, "hidden_size"},
		{"zero", `{"num_attention_heads": 0}`, "num_attention_heads is 0"},
		{"eps", `{"layer_norm_eps": -1}`, "layer_norm_eps is -1"},
		{"label key", `{"id2label": {"zero": "a"}}`, `id2label key "zero"`},
		{"negative label", `{"id2label": {"-1": "a"}}`, `id2label key "-1"`},
		{"label range", `{"num_labels": 2, "id2label": {"0": "a", "5": "b"}}`, "id2label key 5 is out of range for 2 labels"},
		{"sparse labels", `{"id2label": {"0": "a", "7": "b"}}`, "id2label key 7 is out of range for 2 labels"},
		{"non-square", `{"image_size": [224, 192]}`, "only square"},
		{"patch type", `{"patch_size": "16"}`, "patch_size"},
		{"not object", `[1]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"null with space", " \n null", "not a JSON object"},
		{"string", `"deit"`, "not a JSON object"},
		{"empty", ``, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			_, err := ReadHFConfig(path)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, tc.msg)
		})
	}
	_, err := ReadHFConfig(filepath.Join(t.TempDir(), "none.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "none.json")
}
