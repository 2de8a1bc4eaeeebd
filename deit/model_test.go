package deit

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/checkpoint"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// writeConfig writes a config.json into a fresh temp dir and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

const tinyConfigJSON = `{"model_type": "deit", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
 "intermediate_size": 256, "image_size": 32, "patch_size": 8%s}`

func TestLoad(t *testing.T) {
	hfWeights := fixture.Path("tiny-distilled", "model.safetensors")
	timmWeights := fixture.Path("tiny-distilled-timm", "model.pth")
	for _, tc := range []struct {
		name    string
		files   func(t *testing.T) modeldir.Files
		check   func(t *testing.T, m *Model, log string)
		wantErr string
	}{
		{"hf dir", func(*testing.T) modeldir.Files { return fixture.Files("tiny-distilled", "model.safetensors") },
			func(t *testing.T, m *Model, log string) {
				require.Equal(t, HeadDistilled, m.Config.Head)
				require.Equal(t, float32(1e-12), m.Config.Eps)
				require.Equal(t, "cat, domestic cat", m.Config.Labels[3])
				require.Equal(t, 32, m.Preprocessor.CropH, "the fixture's preprocessor_config.json")
				require.Empty(t, m.Notes)
				require.Empty(t, log)
			}, ""},
		{"timm without config", func(*testing.T) modeldir.Files { return modeldir.Files{Weights: timmWeights} },
			func(t *testing.T, m *Model, log string) {
				require.Equal(t, float32(1e-6), m.Config.Eps)
				require.Equal(t, 1, m.Config.Heads)
				require.Equal(t, "LABEL_9", m.Config.Labels[9])
				require.Equal(t, 36, m.Preprocessor.Height, "⌊32/0.875⌋: the model's size, not 224's 256")
				require.Equal(t, 32, m.Preprocessor.CropH)
				require.Len(t, m.Notes, 2)
				require.Contains(t, m.Notes[0], "model.pth: no config.json: model shape read from the timm/facebookresearch")
				require.Contains(t, m.Notes[1], "model.pth: no preprocessor_config.json: images are resized to 36×36 (bicubic) and center-cropped to 32×32, timm's crop_pct 0.875")
				require.Contains(t, log, "LayerNorm eps 1e-06")
			}, ""},
		{"timm with a timm config.json", func(t *testing.T) modeldir.Files {
			return modeldir.Files{Weights: timmWeights, Config: writeConfig(t, `{"architecture": "deit_tiny_distilled", "num_classes": 10}`)}
		}, func(t *testing.T, m *Model, log string) {
			require.Equal(t, float32(1e-6), m.Config.Eps)
			require.Len(t, m.Notes, 3)
			require.Contains(t, m.Notes[0], "is not a Hugging Face model config (no model_type or architectures); ignored")
		}, ""},
		{"config without id2label or architectures", func(t *testing.T) modeldir.Files {
			return modeldir.Files{Weights: hfWeights, Config: writeConfig(t, strings.Replace(tinyConfigJSON, "%s", "", 1))}
		}, func(t *testing.T, m *Model, log string) {
			require.Equal(t, HeadDistilled, m.Config.Head, "from the tensor names")
			require.Equal(t, 10, m.Config.NumLabels, "from the classifier rows")
			require.Equal(t, "LABEL_0", m.Config.Labels[0])
			require.Equal(t, float32(1e-12), m.Config.Eps)
		}, ""},
		{"config layers beyond the checkpoint", func(t *testing.T) modeldir.Files {
			return modeldir.Files{Weights: hfWeights, Config: writeConfig(t,
				strings.Replace(strings.Replace(tinyConfigJSON, "%s", "", 1), `"num_hidden_layers": 2`, `"num_hidden_layers": 3`, 1))}
		}, nil, "model.safetensors: Hugging Face DeiT (deit.*) checkpoint does not fit the config (D=64, layers=3"},
		{"config with absurd layers", func(t *testing.T) modeldir.Files {
			return modeldir.Files{Weights: hfWeights, Config: writeConfig(t,
				strings.Replace(strings.Replace(tinyConfigJSON, "%s", "", 1), `"num_hidden_layers": 2`, `"num_hidden_layers": 1000000000000`, 1))}
		}, nil, "model.safetensors: the config asks for 1000000000000 layers but the Hugging Face DeiT (deit.*) checkpoint holds only"},
		{"config with absurd hidden size", func(t *testing.T) modeldir.Files {
			return modeldir.Files{Weights: hfWeights, Config: writeConfig(t,
				strings.Replace(strings.Replace(tinyConfigJSON, "%s", "", 1), `"hidden_size": 64`, `"hidden_size": 1000000000000000`, 1))}
		}, nil, "deit.embeddings.cls_token: want [1 1 1000000000000000], found [1 1 64]"},
		{"config with the wrong head", func(t *testing.T) modeldir.Files {
			return modeldir.Files{Weights: hfWeights, Config: writeConfig(t,
				strings.Replace(tinyConfigJSON, "%s", `, "architectures": ["DeiTForImageClassification"]`, 1))}
		}, nil, "the config asks for DeiTForImageClassification (classifier) but the Hugging Face DeiT (deit.*) checkpoint holds DeiTForImageClassificationWithTeacher"},
		{"unsupported architecture", func(t *testing.T) modeldir.Files {
			return modeldir.Files{Weights: hfWeights, Config: writeConfig(t,
				strings.Replace(tinyConfigJSON, "%s", `, "architectures": ["DeiTModel"]`, 1))}
		}, nil, `architectures ["DeiTModel"]`},
		{"no weights", func(*testing.T) modeldir.Files { return modeldir.Files{Dir: "some/dir"} }, nil,
			"deit: some/dir: no weights file"},
		{"weights not found", func(*testing.T) modeldir.Files { return modeldir.Files{Weights: "nope/model.safetensors"} }, nil,
			"nope/model.safetensors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tc.files(t))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.True(t, strings.HasPrefix(err.Error(), "deit: "), err.Error())
				return
			}
			require.NoError(t, err)
			require.NoError(t, m.Weights.check(m.Config))
			tc.check(t, m, strings.Join(m.Notes, "\n"))
		})
	}
}

func TestImageNetLabels(t *testing.T) {
	l := ImageNetLabels()
	require.Len(t, l, 1000)
	require.Equal(t, "tench, Tinca tinca", l[0])
	require.Equal(t, "tabby, tabby cat", l[281])
	require.Equal(t, "crane", l[134]) // the bird; 517 is the machine, spelled the same
	require.Equal(t, "crane", l[517])
	require.Equal(t, "maillot, tank suit", l[639])
	require.Equal(t, "toilet tissue, toilet paper, bathroom tissue", l[999])
	for i, s := range l {
		require.NotEmpty(t, s, "label %d", i)
		require.Equal(t, strings.TrimSpace(s), s, "label %d", i)
	}
}

// TestTimmWithoutConfigGetsImageNetNames: a 1000-class timm checkpoint
// without config.json prints ImageNet names, not LABEL_i.
func TestTimmWithoutConfigGetsImageNetNames(t *testing.T) {
	ts := maps.Clone(fixtureTensors(t, "tiny-distilled-timm", "model.pth"))
	for _, h := range []string{"head", "head_dist"} {
		ts[h+".weight"] = &checkpoint.Tensor{Name: h + ".weight", Shape: []int{1000, 64}, Data: make([]float32, 1000*64)}
		ts[h+".bias"] = &checkpoint.Tensor{Name: h + ".bias", Shape: []int{1000}, Data: make([]float32, 1000)}
	}
	got, note, err := configFromTensors(layoutTimm, HeadDistilled, shapesOf(ts))
	require.NoError(t, err)
	require.Equal(t, "tabby, tabby cat", got.Labels[281])
	require.Contains(t, note, "1000 labels with ImageNet-1k names")
}
