// Package modeldir finds the files of a model on disk: in a directory laid
// out as Hugging Face saves models (config.json, preprocessor_config.json,
// model.safetensors or pytorch_model.bin), or beside a single weights file
// such as a timm/facebookresearch .pth. Loading a local model needs only this
// package; package hub adds the Hugging Face cache and downloads.
package modeldir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// Files are the paths of one model's files; a field is "" when that file is
// absent (the readers then apply defaults: no config.json means the shape
// comes from the tensors, no preprocessor_config.json the default
// preprocessing).
type Files struct {
	Dir          string // directory holding the files (a cache snapshot for repo ids)
	Weights      string // checkpoint: safetensors, torch zip or legacy torch
	Config       string // config.json
	Preprocessor string // preprocessor_config.json
}

// The file names of a Hugging Face model directory.
const (
	ConfigFile       = "config.json"
	PreprocessorFile = "preprocessor_config.json"
)

// WeightFiles are the checkpoint names looked for, preferred first.
var WeightFiles = []string{"model.safetensors", "pytorch_model.bin"}

// weightsFileExts are the extensions of files that may hold a checkpoint.
var weightsFileExts = []string{".safetensors", ".bin", ".pth", ".pt"}

// notWeightsFiles are files with checkpoint extensions that the HF Trainer and
// timm write next to a model but that are not the model.
var notWeightsFiles = []string{"training_args.bin", "optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "rng_state"}

// Find returns the files of the model at path, which must exist:
//
//   - a directory: config.json and preprocessor_config.json in it, and
//     model.safetensors, else pytorch_model.bin, else its only
//     *.safetensors / *.bin / *.pth / *.pt file;
//   - a file: the weights, with config.json and preprocessor_config.json
//     looked up beside it (a config file named directly stands for its
//     directory).
func Find(path string) (Files, error) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return Files{}, fmt.Errorf("model %w", err)
	case st.IsDir():
		return inDir(path)
	case st.Mode().IsRegular():
		return besideFile(path)
	}
	return Files{}, fmt.Errorf("model %s is %s, not a weights file or a model directory", path, regfile.Describe(st.Mode()))
}

// inDir finds the model files inside dir.
func inDir(dir string) (Files, error) {
	mf := Files{Dir: dir}
	var err error
	if mf.Config, mf.Preprocessor, err = configsIn(dir); err != nil {
		return Files{}, err
	}
	for _, w := range WeightFiles {
		p, err := fileIn(dir, w)
		if err != nil {
			return Files{}, err
		}
		if p != "" {
			mf.Weights = p
			return mf, nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Files{}, fmt.Errorf("model %w", err)
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
		if isRegular(filepath.Join(dir, "model.safetensors.index.json")) || isRegular(filepath.Join(dir, "pytorch_model.bin.index.json")) {
			return Files{}, fmt.Errorf("model directory %s: sharded checkpoints are not supported", dir)
		}
		return Files{}, fmt.Errorf("model directory %s: no weights file (%s, or one *%s file)",
			dir, strings.Join(WeightFiles, ", "), strings.Join(weightsFileExts, "/*"))
	case 1:
		mf.Weights = filepath.Join(dir, found[0])
		return mf, nil
	}
	return Files{}, fmt.Errorf("model directory %s: several weights files (%s); name the one to use",
		dir, strings.Join(found, ", "))
}

// besideFile treats path as the weights and looks for the configs beside it.
// A config file named directly stands for its directory.
func besideFile(path string) (Files, error) {
	dir := filepath.Dir(path)
	switch filepath.Base(path) {
	case ConfigFile, PreprocessorFile:
		return inDir(dir)
	}
	config, pre, err := configsIn(dir)
	if err != nil {
		return Files{}, err
	}
	return Files{Dir: dir, Weights: path, Config: config, Preprocessor: pre}, nil
}

// configsIn returns the paths of config.json and preprocessor_config.json
// in dir ("" for one that is absent).
func configsIn(dir string) (config, pre string, err error) {
	if config, err = fileIn(dir, ConfigFile); err != nil {
		return "", "", err
	}
	if pre, err = fileIn(dir, PreprocessorFile); err != nil {
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
		return "", fmt.Errorf("model %s is %s, not a regular file", p, regfile.Describe(st.Mode()))
	}
	if errors.Is(err, os.ErrNotExist) {
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", fmt.Errorf("model %s is a symbolic link to a file that does not exist", p)
		}
		return "", nil
	}
	return "", fmt.Errorf("model %w", err)
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

// isRegular reports whether path names an existing regular file.
func isRegular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
