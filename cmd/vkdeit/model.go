package main

import (
	"context"
	"fmt"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// loadModel resolves a --model argument (directory, weights file or hub repo
// id[@revision]) through the Hugging Face cache, downloading what is missing,
// and loads it. deit's notes (such as the eps assumed for a checkpoint without
// config.json) go to the command's stderr.
func loadModel(ctx context.Context, e *env, arg string) (*deit.Model, error) {
	h := hub.FromEnv()
	if e.stderrTerminal() {
		h.Progress = e.stderr
	}
	files, err := hub.ResolveModel(ctx, arg, h)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", arg, err)
	}
	m, err := deit.Load(files)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", arg, err)
	}
	for _, n := range m.Notes {
		fmt.Fprintf(e.stderr, "vkdeit: %s\n", n)
	}
	return m, nil
}

// presetNames lists deit.Preset's names for the --random and --config help.
const presetNames = "tiny-distilled, small-distilled, base-distilled, base-distilled-384, tiny, small, base, base-384"

// randomModel builds a model of a preset configuration with deterministic
// random weights and the default preprocessor.
func randomModel(preset string, seed int64) (*deit.Model, error) {
	cfg, err := deit.Preset(preset)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return &deit.Model{Config: cfg, Weights: deit.RandomWeights(cfg, seed), Pre: imageio.DefaultPreprocessor()}, nil
}
