package deit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// HFConfig holds the config.json keys of a Hugging Face DeiT or ViT model
// that affect inference. Keys missing from the file take the DeiTConfig
// (= ViTConfig) constructor defaults, because save_pretrained omits nothing
// but hand-written and old configs do (e.g. qkv_bias).
type HFConfig struct {
	ModelType         string   // "deit" or "vit"
	Architectures     []string // e.g. DeiTForImageClassificationWithTeacher
	HiddenSize        int
	NumHiddenLayers   int
	NumAttentionHeads int
	IntermediateSize  int
	HiddenAct         string // "gelu" is the exact erf form
	LayerNormEps      float64
	ImageSize         int
	PatchSize         int
	NumChannels       int
	QKVBias           bool
	// NumLabels is num_labels when given, else len(id2label), else 0
	// (unknown: take it from the classifier weights).
	NumLabels int
	ID2Label  map[int]string // nil when the file has no id2label
	Found     bool           // false for DefaultHFConfig (no file was read)
}

// DefaultHFConfig returns the DeiTConfig constructor defaults (ViT-Base sizes,
// eps 1e-12, exact GELU, qkv bias) with Found false, for models that come
// without a config.json.
func DefaultHFConfig() *HFConfig {
	return &HFConfig{
		HiddenSize:        768,
		NumHiddenLayers:   12,
		NumAttentionHeads: 12,
		IntermediateSize:  3072,
		HiddenAct:         "gelu",
		LayerNormEps:      1e-12,
		ImageSize:         224,
		PatchSize:         16,
		NumChannels:       3,
		QKVBias:           true,
	}
}

// configFile mirrors the config.json keys read; pointers tell a missing key
// from a zero value.
type configFile struct {
	ModelType         *string           `json:"model_type"`
	Architectures     []string          `json:"architectures"`
	HiddenSize        *int              `json:"hidden_size"`
	NumHiddenLayers   *int              `json:"num_hidden_layers"`
	NumAttentionHeads *int              `json:"num_attention_heads"`
	IntermediateSize  *int              `json:"intermediate_size"`
	HiddenAct         *string           `json:"hidden_act"`
	LayerNormEps      *float64          `json:"layer_norm_eps"`
	ImageSize         json.RawMessage   `json:"image_size"`
	PatchSize         json.RawMessage   `json:"patch_size"`
	NumChannels       *int              `json:"num_channels"`
	QKVBias           *bool             `json:"qkv_bias"`
	NumLabels         *int              `json:"num_labels"`
	ID2Label          map[string]string `json:"id2label"`
}

// ReadHFConfig reads a Hugging Face config.json. Missing keys take the
// DefaultHFConfig values; id2label's string keys "0", "1", … become ints and
// give NumLabels when num_labels is absent. A missing file is an error
// (errors.Is(err, fs.ErrNotExist)); callers without a config use
// DefaultHFConfig. Errors name the file and the offending key.
func ReadHFConfig(path string) (*HFConfig, error) {
	b, err := readConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	c, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("deit: %s: %w", path, err)
	}
	return c, nil
}

// maxConfigBytes bounds the size of a config.json: an ImageNet-22k label
// map is under 1 MB.
const maxConfigBytes = 16 << 20

// readConfigFile reads path, which must be a regular file (a FIFO would
// block the open, a device never end) of at most maxConfigBytes.
func readConfigFile(path string) ([]byte, error) { return regfile.ReadFile(path, maxConfigBytes) }

// parseConfig decodes and validates config.json content.
func parseConfig(b []byte) (*HFConfig, error) {
	// null, a list or a number would unmarshal into the defaults (or fail
	// obscurely): a config is an object.
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("config.json: not a JSON object")
	}
	var f configFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	c := DefaultHFConfig()
	c.Found = true
	if f.ModelType != nil {
		c.ModelType = *f.ModelType
	}
	c.Architectures = f.Architectures
	ints := []struct {
		key string
		src *int
		dst *int
	}{
		{"hidden_size", f.HiddenSize, &c.HiddenSize},
		{"num_hidden_layers", f.NumHiddenLayers, &c.NumHiddenLayers},
		{"num_attention_heads", f.NumAttentionHeads, &c.NumAttentionHeads},
		{"intermediate_size", f.IntermediateSize, &c.IntermediateSize},
		{"num_channels", f.NumChannels, &c.NumChannels},
	}
	for _, it := range ints {
		if it.src == nil {
			continue
		}
		if *it.src <= 0 {
			return nil, fmt.Errorf("config.json: %s is %d, want a positive integer", it.key, *it.src)
		}
		*it.dst = *it.src
	}
	for _, it := range []struct {
		key string
		raw json.RawMessage
		dst *int
	}{{"image_size", f.ImageSize, &c.ImageSize}, {"patch_size", f.PatchSize, &c.PatchSize}} {
		if len(it.raw) == 0 || string(it.raw) == "null" {
			continue
		}
		v, err := configSquareSize(it.raw)
		if err != nil {
			return nil, fmt.Errorf("config.json: %s: %w", it.key, err)
		}
		*it.dst = v
	}
	if f.HiddenAct != nil {
		c.HiddenAct = *f.HiddenAct
	}
	if f.LayerNormEps != nil {
		if !(*f.LayerNormEps > 0 && *f.LayerNormEps < 1) {
			return nil, fmt.Errorf("config.json: layer_norm_eps is %g, want a small positive number", *f.LayerNormEps)
		}
		c.LayerNormEps = *f.LayerNormEps
	}
	if f.QKVBias != nil {
		c.QKVBias = *f.QKVBias
	}
	if f.ID2Label != nil {
		c.ID2Label = make(map[int]string, len(f.ID2Label))
		for k, v := range f.ID2Label {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 {
				return nil, fmt.Errorf("config.json: id2label key %q is not a non-negative integer", k)
			}
			if _, dup := c.ID2Label[i]; dup {
				return nil, fmt.Errorf("config.json: id2label key %q repeats label %d", k, i)
			}
			c.ID2Label[i] = v
		}
		c.NumLabels = len(c.ID2Label)
	}
	if f.NumLabels != nil {
		if *f.NumLabels <= 0 {
			return nil, fmt.Errorf("config.json: num_labels is %d, want a positive integer", *f.NumLabels)
		}
		c.NumLabels = *f.NumLabels
	}
	for i := range c.ID2Label {
		if i >= c.NumLabels {
			return nil, fmt.Errorf("config.json: id2label key %d is out of range for %d labels", i, c.NumLabels)
		}
	}
	return c, nil
}

// configSquareSize accepts an int or a two-element [h, w] list with h == w.
func configSquareSize(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	var v int
	if err := json.Unmarshal(raw, &v); err == nil {
		if v <= 0 {
			return 0, fmt.Errorf("%d is not a positive size", v)
		}
		return v, nil
	}
	var hw []int
	if err := json.Unmarshal(raw, &hw); err != nil || len(hw) != 2 {
		return 0, fmt.Errorf("%s is not an integer or [height, width]", raw)
	}
	if hw[0] != hw[1] || hw[0] <= 0 {
		return 0, fmt.Errorf("%v: only square positive sizes are supported", hw)
	}
	return hw[0], nil
}
