package deit

import (
	"fmt"

	"github.com/vkdeit/vkdeit/loader/checkpoint"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Model is a ready-to-run classifier: its shape, its weights, and the
// image preprocessing its checkpoint asks for.
type Model struct {
	Config  Config
	Weights *Weights
	Pre     *imageio.Preprocessor
	// Notes records what Load had to assume because the checkpoint did not
	// say (for example sizes read from tensor shapes and eps 1e-6 for a
	// timm/facebookresearch file without config.json). Load prints nothing;
	// a program shows these to its user if it wants.
	Notes []string
}

// Load builds a Model from resolved checkpoint files (see
// hub.ResolveModel): the weights (safetensors, pytorch_model.bin or a
// timm/facebookresearch .pth), config.json and preprocessor_config.json.
// With a Hugging Face config.json its architectures pick the head and its
// id2label the label names; without one (files.Config == "", the usual case
// for timm/facebookresearch checkpoints) the model shape is derived from the
// tensor shapes with LayerNorm eps 1e-6, and Model.Notes says so. A missing
// preprocessor_config.json means imageio.DefaultPreprocessor(). Load prints
// nothing.
func Load(files hub.ModelFiles) (*Model, error) {
	if files.Weights == "" {
		where := files.Dir
		if where == "" {
			where = "model"
		}
		return nil, fmt.Errorf("deit: %s: no weights file (model.safetensors, pytorch_model.bin or a .pth)", where)
	}
	ts, err := checkpoint.Read(files.Weights)
	if err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	l, head, err := detectLayout(ts)
	if err != nil {
		return nil, fmt.Errorf("deit: %s: %w", files.Weights, err)
	}

	m := &Model{}
	var hf *HFConfig
	if files.Config != "" {
		if hf, err = ReadHFConfig(files.Config); err != nil {
			return nil, fmt.Errorf("deit: %w", err)
		}
		if l == layoutTimm && hf.ModelType == "" && len(hf.Architectures) == 0 {
			// timm's own config.json (architecture, num_classes,
			// pretrained_cfg) is not a model config in the HF sense.
			m.Notes = append(m.Notes, fmt.Sprintf("%s is not a Hugging Face model config (no model_type or architectures); ignored", files.Config))
			hf = nil
		}
	}
	if hf != nil {
		h := *hf
		if len(h.ID2Label) == 0 {
			// No label map (HF would then assume 2 labels): the head's rows
			// are the real count.
			if n := headRows(l, head, ts); n > 0 {
				h.NumLabels = n
			}
		}
		cfg, err := ConfigFromHF(&h)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, files.Config)
		}
		if len(h.Architectures) == 0 && head != headUnknown {
			cfg.Head = head // no architectures: the tensors decide
		}
		m.Config = cfg
	} else {
		cfg, note, err := configFromTensors(l, head, ts)
		if err != nil {
			return nil, fmt.Errorf("deit: %s: %w", files.Weights, err)
		}
		m.Config = cfg
		m.Notes = append(m.Notes, fmt.Sprintf("%s: %s", files.Weights, note))
	}
	if m.Weights, err = weightsFromTensors(m.Config, ts); err != nil {
		return nil, fmt.Errorf("deit: %s: %w", files.Weights, err)
	}
	if files.Preprocessor == "" {
		m.Pre = imageio.DefaultPreprocessor()
	} else if m.Pre, err = imageio.ReadPreprocessor(files.Preprocessor); err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	return m, nil
}

// headRows is the row count of the checkpoint's (first) classifier weight,
// or 0 when there is none.
func headRows(l layout, head HeadKind, ts map[string]*checkpoint.Tensor) int {
	name := "classifier.weight"
	switch {
	case l == layoutTimm:
		name = "head.weight"
	case head == HeadDistilled:
		name = "cls_classifier.weight"
	}
	if t, ok := ts[name]; ok && t != nil && len(t.Shape) == 2 {
		return t.Shape[0]
	}
	return 0
}
