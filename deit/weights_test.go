package deit

import (
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/checkpoint"
)

// names makes a tensor map holding only the given names (shapes empty), for
// tests that look at names alone.
func names(ns ...string) map[string]*checkpoint.Tensor {
	ts := make(map[string]*checkpoint.Tensor, len(ns))
	for _, n := range ns {
		ts[n] = &checkpoint.Tensor{Name: n}
	}
	return ts
}

func TestDetectLayout(t *testing.T) {
	hfBody := []string{"deit.embeddings.cls_token", "deit.embeddings.distillation_token",
		"deit.encoder.layer.0.attention.attention.query.weight", "deit.layernorm.weight"}
	for _, tc := range []struct {
		name    string
		ts      map[string]*checkpoint.Tensor
		layout  layout
		head    HeadKind
		wantErr string
	}{
		{"hf deit with teacher", names(append(hfBody, "cls_classifier.weight", "distillation_classifier.weight")...),
			layoutHFDeiT, HeadDistilled, ""},
		{"hf deit classifier", names(append(hfBody, "classifier.weight")...), layoutHFDeiT, HeadDistilledClassifier, ""},
		{"hf deit backbone only", names(hfBody...), layoutHFDeiT, headUnknown, ""},
		{"hf deit with pooler", names(append(hfBody, "deit.pooler.dense.weight", "classifier.weight")...),
			layoutHFDeiT, HeadDistilledClassifier, ""},
		{"hf vit", names("vit.embeddings.cls_token", "vit.encoder.layer.0.output.dense.weight", "classifier.weight"),
			layoutHFViT, HeadClassifier, ""},
		{"timm distilled", names("cls_token", "dist_token", "pos_embed", "blocks.0.attn.qkv.weight", "head.weight", "head_dist.weight"),
			layoutTimm, HeadDistilled, ""},
		{"timm dist token, one head", names("cls_token", "dist_token", "pos_embed", "blocks.0.attn.qkv.weight", "head.weight"),
			layoutTimm, HeadDistilledClassifier, ""},
		{"timm vit", names("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.11.mlp.fc2.bias", "head.weight"),
			layoutTimm, HeadClassifier, ""},
		{"mixed", names("deit.embeddings.cls_token", "vit.embeddings.cls_token"), 0, 0, "mix the deit.* and vit.* layouts"},
		{"unknown", names("encoder.layer.0.weight", "fc.weight"), 0, 0,
			"2 tensor names match no known layout (want deit.* for Hugging Face DeiT, vit.* for Hugging Face ViT, or cls_token/pos_embed/blocks.N.* for timm/facebookresearch); found encoder.layer.0.weight, fc.weight"},
		{"empty", names(), 0, 0, "0 tensor names match no known layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, h, err := detectLayout(shapesOf(tc.ts))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.layout, l, "layout %v", l)
			require.Equal(t, tc.head, h)
		})
	}
}

// fixtureTensors reads a committed fixture checkpoint.
func fixtureTensors(t *testing.T, dir, file string) map[string]*checkpoint.Tensor {
	t.Helper()
	ts, err := checkpoint.Read(fixture.Path(dir, file))
	require.NoError(t, err)
	return ts
}

// fixtureConfig reads a committed fixture config.json through ConfigFromHF.
func fixtureConfig(t *testing.T, dir string) Config {
	t.Helper()
	hf, err := ReadHFConfig(fixture.Path(dir, "config.json"))
	require.NoError(t, err)
	c, err := ConfigFromHF(hf)
	require.NoError(t, err)
	return c
}

func TestWeightsFromTensorsErrors(t *testing.T) {
	hfCfg := fixtureConfig(t, "tiny-distilled")
	for _, tc := range []struct {
		name    string
		dir     string
		file    string
		edit    func(cfg *Config, ts map[string]*checkpoint.Tensor)
		wantErr []string
	}{
		{"missing tensor", "tiny-distilled", "model.safetensors", func(_ *Config, ts map[string]*checkpoint.Tensor) {
			delete(ts, "deit.encoder.layer.1.attention.attention.key.weight")
		}, []string{"1 tensor(s) wrong", "deit.encoder.layer.1.attention.attention.key.weight: want [64 64], found nothing"}},
		{"mis-shaped tensor", "tiny-distilled", "model.safetensors", func(_ *Config, ts map[string]*checkpoint.Tensor) {
			x := ts["deit.encoder.layer.0.intermediate.dense.weight"]
			ts["deit.encoder.layer.0.intermediate.dense.weight"] = &checkpoint.Tensor{Name: x.Name, Shape: []int{128, 128}, Data: x.Data}
		}, []string{"deit.encoder.layer.0.intermediate.dense.weight: want [256 64], found [128 128]"}},
		{"config wants more layers", "tiny-distilled", "model.safetensors", func(cfg *Config, _ map[string]*checkpoint.Tensor) {
			cfg.Layers = 3
		}, []string{"16 tensor(s) wrong", "deit.encoder.layer.2.layernorm_before.weight: want [64], found nothing", "… and 4 more"}},
		{"config image size", "tiny-distilled", "model.safetensors", func(cfg *Config, _ map[string]*checkpoint.Tensor) {
			cfg.ImageSize = 48
		}, []string{"deit.embeddings.position_embeddings: want [1 38 64], found [1 18 64]"}},
		{"timm head mismatch", "tiny-distilled-timm", "model.pth", func(cfg *Config, ts map[string]*checkpoint.Tensor) {
			delete(ts, "head_dist.weight") // now reads as one head with a dist token
		}, []string{"the config asks for DeiTForImageClassificationWithTeacher (head + head_dist) but the timm/facebookresearch (blocks.N.*) checkpoint holds DeiTForImageClassification (dist_token, head only)"}},
		{"timm mis-shaped qkv", "tiny-distilled-timm", "model.pth", func(cfg *Config, ts map[string]*checkpoint.Tensor) {
			x := ts["blocks.1.attn.qkv.bias"]
			ts["blocks.1.attn.qkv.bias"] = &checkpoint.Tensor{Name: x.Name, Shape: []int{64}, Data: x.Data[:64]}
		}, []string{"timm/facebookresearch (blocks.N.*) checkpoint does not fit", "blocks.1.attn.qkv.bias: want [192], found [64]"}},
		{"values do not match shape", "tiny-distilled", "model.safetensors", func(_ *Config, ts map[string]*checkpoint.Tensor) {
			x := ts["deit.layernorm.bias"]
			ts["deit.layernorm.bias"] = &checkpoint.Tensor{Name: x.Name, Shape: x.Shape, Data: x.Data[:3]}
		}, []string{"deit.layernorm.bias: shape [64] but 3 values"}},
		{"vit names for distilled config", "tiny-vit", "model.safetensors", nil,
			[]string{"the config asks for DeiTForImageClassificationWithTeacher (cls_classifier + distillation_classifier) but the Hugging Face ViT (vit.*) checkpoint holds ViTForImageClassification (classifier)"}},
		{"bad config", "tiny-distilled", "model.safetensors", func(cfg *Config, _ map[string]*checkpoint.Tensor) { cfg.Heads = 5 },
			[]string{"deit: config: hidden size 64 is not a multiple of 5 heads"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := maps.Clone(fixtureTensors(t, tc.dir, tc.file))
			cfg := hfCfg
			if tc.dir == "tiny-distilled-timm" {
				cfg.Heads = 1
			}
			if tc.edit != nil {
				tc.edit(&cfg, ts)
			}
			_, err := WeightsFromTensors(cfg, ts)
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
			require.True(t, strings.HasPrefix(err.Error(), "deit: "), err.Error())
		})
	}
}

// TestTimmQKVSplit checks that the fused timm qkv rows land in Q, K and V
// exactly as the HF file (written separately by PyTorch) has them, and that
// everything else maps to the same weights too.
func TestTimmQKVSplit(t *testing.T) {
	cfg := fixtureConfig(t, "tiny-distilled")
	hf, err := WeightsFromTensors(cfg, fixtureTensors(t, "tiny-distilled", "model.safetensors"))
	require.NoError(t, err)
	timm, err := WeightsFromTensors(cfg, fixtureTensors(t, "tiny-distilled-timm", "model.pth"))
	require.NoError(t, err)
	require.Equal(t, hf, timm)
	require.Len(t, timm.Layers[1].VW, 64*64)
	require.Equal(t, 64*64, cap(timm.Layers[1].QW), "split views must not reach into K")
}

// TestWeightsIgnoreExtras checks that the known extras (the HF pooler and
// mask token) do not matter, and that any other unused tensor is an error.
func TestWeightsIgnoreExtras(t *testing.T) {
	cfg := fixtureConfig(t, "tiny-distilled")
	ts := maps.Clone(fixtureTensors(t, "tiny-distilled", "model.safetensors"))
	ts["deit.pooler.dense.weight"] = &checkpoint.Tensor{Name: "deit.pooler.dense.weight", Shape: []int{64, 64}, Data: make([]float32, 64*64)}
	ts["deit.embeddings.mask_token"] = &checkpoint.Tensor{Name: "deit.embeddings.mask_token", Shape: []int{1, 1, 64}, Data: make([]float32, 64)}
	w, err := WeightsFromTensors(cfg, ts)
	require.NoError(t, err)
	require.Equal(t, ts["deit.embeddings.distillation_token"].Data, w.Special[64:])
	require.Equal(t, ts["deit.embeddings.cls_token"].Data, w.Special[:64])

	ts["head.weight"] = &checkpoint.Tensor{Name: "head.weight", Shape: []int{10, 64}, Data: make([]float32, 640)}
	_, err = WeightsFromTensors(cfg, ts)
	require.ErrorContains(t, err, "holds 1 tensor(s) that the config (D=64, layers=2, MLP=256, 18 tokens, patch 8, 10 labels, DeiTForImageClassificationWithTeacher) does not use: head.weight")
}

func TestConfigFromTensors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     string
		file    string
		edit    func(ts map[string]*checkpoint.Tensor)
		want    Config
		note    string
		wantErr string
	}{
		{"timm", "tiny-distilled-timm", "model.pth", nil,
			Config{Hidden: 64, Layers: 2, Heads: 1, MLP: 256, ImageSize: 32, PatchSize: 8, Channels: 3, NumLabels: 10, Eps: 1e-6, Head: HeadDistilled},
			"no config.json: model shape read from the timm/facebookresearch (blocks.N.*) tensor shapes (hidden 64, 2 layers, heads 1 = hidden/64 assumed, MLP 256, image 32, patch 8, 10 labels with LABEL_i names, DeiTForImageClassificationWithTeacher); LayerNorm eps 1e-06, what timm/facebookresearch trained with", ""},
		{"hf", "tiny-distilled", "model.safetensors", nil,
			Config{Hidden: 64, Layers: 2, Heads: 1, MLP: 256, ImageSize: 32, PatchSize: 8, Channels: 3, NumLabels: 10, Eps: 1e-12, Head: HeadDistilled},
			"LayerNorm eps 1e-12, the Hugging Face default", ""},
		{"timm without head_dist", "tiny-distilled-timm", "model.pth", func(ts map[string]*checkpoint.Tensor) {
			delete(ts, "head_dist.weight")
			delete(ts, "blocks.1.norm1.weight") // the layer count comes from any blocks.1.* name
		}, Config{Hidden: 64, Layers: 2, Heads: 1, MLP: 256, ImageSize: 32, PatchSize: 8, Channels: 3, NumLabels: 10, Eps: 1e-6, Head: HeadDistilledClassifier}, "", ""},
		{"vit hidden 32", "tiny-vit", "model.safetensors", nil, Config{}, "", "hidden size 32 is not a multiple of 64, so the head count cannot be inferred"},
		{"no pos", "tiny-distilled-timm", "model.pth", func(ts map[string]*checkpoint.Tensor) { delete(ts, "pos_embed") },
			Config{}, "", "tensor pos_embed (needed to infer the model size) is missing"},
		{"pos not square", "tiny-distilled-timm", "model.pth", func(ts map[string]*checkpoint.Tensor) {
			ts["pos_embed"] = &checkpoint.Tensor{Name: "pos_embed", Shape: []int{1, 17, 64}, Data: make([]float32, 17*64)}
		}, Config{}, "", "tensor pos_embed has 17 rows: 15 patches after 2 special token(s) is not a square grid"},
		{"patch rank", "tiny-distilled-timm", "model.pth", func(ts map[string]*checkpoint.Tensor) {
			ts["patch_embed.proj.weight"] = &checkpoint.Tensor{Name: "patch_embed.proj.weight", Shape: []int{64, 192}, Data: make([]float32, 64*192)}
		}, Config{}, "", "tensor patch_embed.proj.weight has shape [64 192], want rank 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := maps.Clone(fixtureTensors(t, tc.dir, tc.file))
			if tc.edit != nil {
				tc.edit(ts)
			}
			l, head, err := detectLayout(shapesOf(ts))
			require.NoError(t, err)
			cfg, note, err := configFromTensors(l, head, shapesOf(ts))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.want.Labels = genericLabels(tc.want.NumLabels)
			require.Equal(t, tc.want, cfg)
			require.Contains(t, note, tc.note)
		})
	}
}

func TestFirstNonFinite(t *testing.T) {
	for _, n := range []int{0, 1, 100, 1 << 16, 3<<16 + 5, 40 << 16} {
		v := make([]float32, n)
		require.Equal(t, -1, firstNonFinite(v), "n %d", n)
		for _, at := range []int{n - 1, n / 2, n/3 + 1, 0} {
			if at < 0 || at >= n {
				continue
			}
			// Two bad values: the first one is reported, whichever goroutine finds which.
			v[at] = float32(math.Inf(-1))
			if at+(1<<16) < n {
				v[at+(1<<16)] = float32(math.NaN())
			}
			require.Equal(t, at, firstNonFinite(v), "n %d at %d", n, at)
		}
	}
}

func BenchmarkFirstNonFinite(b *testing.B) {
	v := make([]float32, 256*3*224*224) // a batch of 256 DeiT inputs
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		if firstNonFinite(v) >= 0 {
			b.Fatal("finite input")
		}
	}
}
