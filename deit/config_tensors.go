package deit

import (
	"fmt"
	"strconv"
	"strings"
)

// Layer-norm eps used when a checkpoint comes without a config.json.
const (
	// epsTimm is the LayerNorm eps timm and facebookresearch/deit trained
	// every DeiT with (nn.LayerNorm(eps=1e-6)).
	epsTimm = 1e-6
	// epsHF is the Hugging Face DeiTConfig / ViTConfig default, which the
	// hub configs of facebook/deit-* carry.
	epsHF = 1e-12
)

// headDimGuess is the head width of every published DeiT / ViT; a checkpoint
// without config.json does not record the head count, so it is Hidden/64.
const headDimGuess = 64

// configFromTensors derives the model shape from the tensor shapes of a
// checkpoint that has no config.json: hidden size from the position table,
// layer count from the highest block index, MLP width from the first block's
// fc1, patch size and channels from the patch-embedding conv, image size
// from the number of position rows (a square grid), labels from the head
// rows, heads = hidden/64, and eps 1e-6 for timm/facebookresearch names
// (what they trained with) or 1e-12 for Hugging Face names (their default).
// The returned note says what was assumed, for the user.
func configFromTensors(l layout, head HeadKind, ts tensorShapes) (Config, string, error) {
	if head == headUnknown {
		return Config{}, "", fmt.Errorf("the %v checkpoint has no classifier tensors", l)
	}
	var pos, patch, fc1, headW, layerPrefix string
	eps := float32(epsHF)
	if l == layoutTimm {
		pos, patch, fc1, headW, layerPrefix = "pos_embed", "patch_embed.proj.weight", "blocks.0.mlp.fc1.weight", "head.weight", "blocks."
		eps = epsTimm
	} else {
		p := "deit"
		if l == layoutHFViT {
			p = "vit"
		}
		pos = p + ".embeddings.position_embeddings"
		patch = p + ".embeddings.patch_embeddings.projection.weight"
		fc1 = p + ".encoder.layer.0.intermediate.dense.weight"
		layerPrefix = p + ".encoder.layer."
		headW = "classifier.weight"
		if head == HeadDistilled {
			headW = "cls_classifier.weight"
		}
	}
	shape := func(name string, rank int) ([]int, error) {
		s, ok := ts[name]
		if !ok {
			return nil, fmt.Errorf("no config.json, and tensor %s (needed to infer the model size) is missing", name)
		}
		if len(s) != rank {
			return nil, fmt.Errorf("tensor %s has shape %v, want rank %d", name, s, rank)
		}
		for _, d := range s {
			if d <= 0 {
				return nil, fmt.Errorf("tensor %s has shape %v", name, s)
			}
		}
		return s, nil
	}
	ps, err := shape(pos, 3)
	if err != nil {
		return Config{}, "", err
	}
	ws, err := shape(patch, 4)
	if err != nil {
		return Config{}, "", err
	}
	fs, err := shape(fc1, 2)
	if err != nil {
		return Config{}, "", err
	}
	hs, err := shape(headW, 2)
	if err != nil {
		return Config{}, "", err
	}
	layers := 0
	for name := range ts {
		rest, ok := strings.CutPrefix(name, layerPrefix)
		if !ok {
			continue
		}
		idx, _, ok := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(idx); ok && err == nil && n >= 0 && n < 1<<16 {
			layers = max(layers, n+1)
		}
	}
	cfg := Config{
		Hidden: ps[2], Layers: layers, MLP: fs[0], PatchSize: ws[2], Channels: ws[1],
		NumLabels: hs[0], Eps: eps, Head: head,
	}
	if ws[2] != ws[3] {
		return Config{}, "", fmt.Errorf("tensor %s has shape %v: non-square patches are not supported", patch, ws)
	}
	if cfg.Hidden%headDimGuess != 0 {
		return Config{}, "", fmt.Errorf("no config.json, and hidden size %d is not a multiple of %d, so the head count cannot be inferred", cfg.Hidden, headDimGuess)
	}
	cfg.Heads = cfg.Hidden / headDimGuess
	n := ps[1] - cfg.Special()
	g := 0
	for g*g < n {
		g++
	}
	if n <= 0 || g*g != n {
		return Config{}, "", fmt.Errorf("tensor %s has %d rows: %d patches after %d special token(s) is not a square grid", pos, ps[1], n, cfg.Special())
	}
	cfg.ImageSize = g * cfg.PatchSize
	cfg.Labels = genericLabels(cfg.NumLabels)
	labels := "LABEL_i names"
	if cfg.NumLabels == 1000 {
		// Every facebook/deit-* checkpoint is an ImageNet-1k classifier.
		cfg.Labels, labels = ImageNetLabels(), "ImageNet-1k names"
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, "", err
	}
	why := "the Hugging Face default"
	if l == layoutTimm {
		why = "what timm/facebookresearch trained with"
	}
	note := fmt.Sprintf("no config.json: model shape read from the %v tensor shapes (hidden %d, %d layers, heads %d = hidden/%d assumed, MLP %d, image %d, patch %d, %d labels with %s, %v); LayerNorm eps %g, %s",
		l, cfg.Hidden, cfg.Layers, cfg.Heads, headDimGuess, cfg.MLP, cfg.ImageSize, cfg.PatchSize, cfg.NumLabels, labels, cfg.Head, cfg.Eps, why)
	return cfg, note, nil
}
