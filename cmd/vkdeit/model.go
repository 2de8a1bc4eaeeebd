package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/hub"
)

// loadModel resolves a --model argument (directory, weights file or hub repo
// id[@revision]) through the Hugging Face cache, downloading what is missing,
// and loads it. The model's notes (such as the eps assumed for a checkpoint
// without config.json) go to stderr unless quiet.
func loadModel(ctx context.Context, e *env, mf *modelFlags, quiet bool) (*deit.Model, error) {
	arg := mf.arg
	h := hub.FromEnv()
	var done func()
	h.Progress, done = downloadProgress(e, quiet)
	defer done()
	files, err := hub.ResolveModel(ctx, arg, h)
	if err != nil {
		return nil, modelErr(arg, err)
	}
	m, err := deit.LoadWith(files, deit.LoadOptions{AllowExtraTensors: mf.allowExtra})
	if err != nil {
		return nil, modelErr(arg, err)
	}
	for _, n := range m.Notes {
		e.notef(quiet, "%s", n)
	}
	return m, nil
}

// presetNames lists deit.Preset's names for the --random and --config help.
var presetNames = strings.Join(deit.PresetNames(), ", ")

// randomModel builds a model of a preset configuration with deterministic
// random weights and the preprocessor of its image size.
func randomModel(preset string, seed int64) (*deit.Model, error) {
	cfg, err := deit.Preset(preset)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return &deit.Model{Config: cfg, Weights: deit.RandomWeights(cfg, seed), Preprocessor: cfg.DefaultPreprocessor()}, nil
}

// modelErr names the --model argument in err unless err names it already
// (a path or repo id the loaders put in their messages), so that no
// message says it twice.
func modelErr(arg string, err error) error {
	if strings.Contains(err.Error(), arg) {
		return err
	}
	return fmt.Errorf("model %s: %w", arg, err)
}
