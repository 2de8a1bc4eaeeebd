package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ModelFiles are the paths of one model's files; a field is "" when that
// file is absent (the readers then apply defaults: ReadConfig reports
// Found=false, ReadPreprocessor returns DefaultPreprocessor).
type ModelFiles struct {
	Dir          string // directory holding the files (a cache snapshot for repo ids)
	Weights      string // checkpoint: safetensors, torch zip or legacy torch
	Config       string // config.json
	Preprocessor string // preprocessor_config.json
}

// weightsFileExts are the extensions of files that may hold a checkpoint.
var weightsFileExts = []string{".safetensors", ".bin", ".pth", ".pt"}

// notWeightsFiles are files with checkpoint extensions that the HF Trainer and
// timm write next to a model but that are not the model.
var notWeightsFiles = []string{"training_args.bin", "optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "rng_state"}

// ResolveModel finds the files of the model named by arg:
//
//   - an existing directory: config.json and preprocessor_config.json in it,
//     and model.safetensors, else pytorch_model.bin, else its only
//     *.safetensors / *.bin / *.pth / *.pt file;
//   - an existing file: the weights, with config.json and
//     preprocessor_config.json looked up beside it;
//   - otherwise a Hub repo id ("org/name[@revision]"), resolved by
//     h.Snapshot (h nil means FromEnv()).
//
// An existing path always wins over a repo id of the same spelling; "" means
// DefaultModel.
func ResolveModel(ctx context.Context, arg string, h *Client) (ModelFiles, error) {
	if arg == "" {
		arg = DefaultModel
	}
	st, err := os.Stat(arg)
	switch {
	case err == nil && st.IsDir():
		return modelDir(arg)
	case err == nil && st.Mode().IsRegular():
		return modelFile(arg)
	case err == nil:
		return ModelFiles{}, fmt.Errorf("hub: model %s is %s, not a weights file or a model directory", arg, describeMode(st.Mode()))
	case !errors.Is(err, os.ErrNotExist):
		return ModelFiles{}, fmt.Errorf("hub: model %w", err)
	}
	if !IsRepoID(arg) {
		if _, rev, ok := strings.Cut(arg, "@"); ok && !validRevision(rev) {
			return ModelFiles{}, fmt.Errorf("hub: model %s: no such file or directory, and %q is not a valid revision", arg, rev)
		}
		return ModelFiles{}, fmt.Errorf("hub: model %s: no such file or directory, and not a Hugging Face repo id (org/name or org/name@revision)", arg)
	}
	if h == nil {
		h = FromEnv()
	}
	return h.Snapshot(ctx, arg)
}

// modelDir finds the model files inside dir.
func modelDir(dir string) (ModelFiles, error) {
	mf := ModelFiles{Dir: dir}
	var err error
	if mf.Config, mf.Preprocessor, err = configsIn(dir); err != nil {
		return ModelFiles{}, err
	}
	for _, w := range hubWeightFiles {
		p, err := fileIn(dir, w)
		if err != nil {
			return ModelFiles{}, err
		}
		if p != "" {
			mf.Weights = p
			return mf, nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ModelFiles{}, fmt.Errorf("hub: model %w", err)
	}
	var found []string
	for _, e := range entries {
		if !isWeightsName(e.Name()) {
			continue
		}
		if p, err := fileIn(dir, e.Name()); err == nil && p != "" { // others are not model files
			found = append(found, e.Name())
		}
	}
	sort.Strings(found)
	switch len(found) {
	case 0:
		if isRegularFile(filepath.Join(dir, "model.safetensors.index.json")) || isRegularFile(filepath.Join(dir, "pytorch_model.bin.index.json")) {
			return ModelFiles{}, fmt.Errorf("hub: model directory %s: sharded checkpoints are not supported", dir)
		}
		return ModelFiles{}, fmt.Errorf("hub: model directory %s: no weights file (%s, or one *%s file)",
			dir, strings.Join(hubWeightFiles, ", "), strings.Join(weightsFileExts, "/*"))
	case 1:
		mf.Weights = filepath.Join(dir, found[0])
		return mf, nil
	}
	return ModelFiles{}, fmt.Errorf("hub: model directory %s: several weights files (%s); name the one to use",
		dir, strings.Join(found, ", "))
}

// modelFile treats path as the weights and looks for the configs beside it.
// A config file named directly stands for its directory.
func modelFile(path string) (ModelFiles, error) {
	dir := filepath.Dir(path)
	switch filepath.Base(path) {
	case hubConfigFile, hubPreprocessorFile:
		return modelDir(dir)
	}
	config, pre, err := configsIn(dir)
	if err != nil {
		return ModelFiles{}, err
	}
	return ModelFiles{Dir: dir, Weights: path, Config: config, Preprocessor: pre}, nil
}

// configsIn returns the paths of config.json and preprocessor_config.json
// in dir ("" for one that is absent).
func configsIn(dir string) (config, pre string, err error) {
	if config, err = fileIn(dir, hubConfigFile); err != nil {
		return "", "", err
	}
	if pre, err = fileIn(dir, hubPreprocessorFile); err != nil {
		return "", "", err
	}
	return config, pre, nil
}

// fileIn returns dir/name when it is a regular file (following symlinks,
// as the cache's snapshots are), "" when there is no such file, and an
// error when there is something else of that name (a directory, a FIFO, a
// dangling symlink): taking the defaults in its place would silently run
// another model.
func fileIn(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err == nil && st.Mode().IsRegular() {
		return p, nil
	}
	if err == nil {
		return "", fmt.Errorf("hub: model %s is %s, not a regular file", p, describeMode(st.Mode()))
	}
	if errors.Is(err, os.ErrNotExist) {
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", fmt.Errorf("hub: model %s is a symbolic link to a file that does not exist", p)
		}
		return "", nil
	}
	return "", fmt.Errorf("hub: model %w", err)
}

// isWeightsName reports whether a file name looks like a checkpoint.
func isWeightsName(name string) bool {
	lower := strings.ToLower(name)
	for _, n := range notWeightsFiles {
		if strings.HasPrefix(lower, n) {
			return false
		}
	}
	for _, ext := range weightsFileExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}
