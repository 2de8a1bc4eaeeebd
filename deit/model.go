package deit

import (
	"fmt"

	"github.com/vkdeit/vkdeit/loader/checkpoint"
	"github.com/vkdeit/vkdeit/loader/imageio"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// Model is a ready-to-run classifier: its shape, its weights, and the
// image preprocessing its checkpoint asks for.
type Model struct {
	Config       Config
	Weights      *Weights
	Preprocessor *imageio.Preprocessor
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
// preprocessor_config.json means Config.DefaultPreprocessor (DeiT's
// preprocessing scaled to the model's image size by timm's crop_pct), and
// Model.Notes says so too. Load prints nothing.
//
// The checkpoint must hold exactly the model: a tensor the config needs that
// is missing or mis-shaped, or a tensor the model would not use (say, the
// layers beyond a config's num_hidden_layers) is an error listing them,
// except for the known extras LoadOptions describes. Names and shapes are
// checked against the checkpoint's index before anything is converted, and
// only the tensors the model uses are ever read. Load is LoadWith with the
// zero LoadOptions.
func Load(files modeldir.Files) (*Model, error) {
	return LoadWith(files, LoadOptions{})
}

// LoadWith is Load with options.
func LoadWith(files modeldir.Files, opts LoadOptions) (*Model, error) {
	if files.Weights == "" {
		where := files.Dir
		if where == "" {
			where = "model"
		}
		return nil, fmt.Errorf("deit: %s: no weights file (model.safetensors, pytorch_model.bin or a .pth)", where)
	}
	ckpt, err := checkpoint.Open(files.Weights)
	if err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	defer ckpt.Close()
	shapes := indexShapes(ckpt.Index())
	l, head, err := detectLayout(shapes)
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
			if n := headRows(l, head, shapes); n > 0 {
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
		cfg, note, err := configFromTensors(l, head, shapes)
		if err != nil {
			return nil, fmt.Errorf("deit: %s: %w", files.Weights, err)
		}
		m.Config = cfg
		m.Notes = append(m.Notes, fmt.Sprintf("%s: %s", files.Weights, note))
	}
	plan, err := planWeights(m.Config, shapes, opts)
	if err != nil {
		return nil, fmt.Errorf("deit: %s: %w", files.Weights, err)
	}
	ts, err := ckpt.Read(plan.names()...)
	if err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	if m.Weights, err = plan.fill(ts); err != nil {
		return nil, fmt.Errorf("deit: %s: %w", files.Weights, err)
	}
	if len(plan.extras) > 0 {
		m.Notes = append(m.Notes, fmt.Sprintf("%s: %d tensor(s) the model does not use were not read: %s",
			files.Weights, len(plan.extras), listCapped(quoteNames(plan.extras), ", ")))
	}
	if files.Preprocessor == "" {
		m.Preprocessor = m.Config.DefaultPreprocessor()
		where := files.Dir
		if where == "" {
			where = files.Weights
		}
		m.Notes = append(m.Notes, fmt.Sprintf("%s: %s", where, m.Config.defaultPreprocessorNote()))
	} else if m.Preprocessor, err = imageio.ReadPreprocessor(files.Preprocessor); err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	return m, nil
}

// headRows is the row count of the checkpoint's (first) classifier weight,
// or 0 when there is none.
func headRows(l layout, head HeadKind, shapes tensorShapes) int {
	name := "classifier.weight"
	switch {
	case l == layoutTimm:
		name = "head.weight"
	case head == HeadDistilled:
		name = "cls_classifier.weight"
	}
	if s, ok := shapes[name]; ok && len(s) == 2 {
		return s[0]
	}
	return 0
}
