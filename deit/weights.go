package deit

import (
	"sync/atomic"

	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vkdeit/vkdeit/internal/par"

	"github.com/vkdeit/vkdeit/loader/checkpoint"
)

// Layer holds one encoder block's weights. Every matrix is in PyTorch
// nn.Linear layout [out, in] (element W[o*in + i]); the GPU engine
// transposes at upload. Shapes, with D = Hidden and M = MLP:
// LN1G, LN1B, LN2G, LN2B, QB, KB, VB, ProjB, FC2B [D]; QW, KW, VW, ProjW
// [D, D]; FC1W [M, D]; FC1B [M]; FC2W [D, M].
type Layer struct {
	LN1G, LN1B             []float32 // layernorm_before / norm1
	QW, QB, KW, KB, VW, VB []float32 // attention query, key, value
	ProjW, ProjB           []float32 // attention output dense / attn.proj
	LN2G, LN2B             []float32 // layernorm_after / norm2
	FC1W, FC1B             []float32 // intermediate dense / mlp.fc1
	FC2W, FC2B             []float32 // output dense / mlp.fc2
}

// Weights are all parameters of a DeiT / ViT classifier as flat float32
// slices, independent of the checkpoint layout they came from. Shapes, with
// S = Config.Special(), T = Config.Tokens(), L = NumLabels:
// PatchW [D, C*P*P] (the conv weight flattened in (c, ky, kx) order),
// PatchB [D], Special [S, D] ([CLS] then [DIST]), Pos [T, D], NormG/NormB
// [D], ClsW [L, D] and ClsB [L] (the classifier on token 0), DistW/DistB
// the same for token 1 — nil unless the head is HeadDistilled.
//
// Weights built by WeightsFromTensors share memory with the tensors.
type Weights struct {
	PatchW, PatchB []float32
	Special, Pos   []float32
	Layers         []Layer
	NormG, NormB   []float32
	ClsW, ClsB     []float32
	DistW, DistB   []float32
}

// tensorSpec is one tensor a layout must provide: its name, its exact shape,
// and where its data goes.
type tensorSpec struct {
	name  string
	shape []int
	set   func(data []float32)
}

// view returns s[lo:hi] with its capacity capped, so that an append on a
// weight can never write into its neighbour in a shared tensor.
func view(s []float32, lo, hi int) []float32 { return s[lo:hi:hi] }

// WeightsFromTensors picks the weights of a model shaped like cfg out of a
// checkpoint's tensors. The layout — Hugging Face DeiT (deit.*), Hugging
// Face ViT (vit.*) or timm / facebookresearch (blocks.N.*) — is detected
// from the names; timm's fused attn.qkv is split into Q, K and V rows
// (rows [0,D) are Q, [D,2D) K, [2D,3D) V). Every tensor the layout needs for
// cfg must be present with exactly the right shape, and every tensor in ts
// must be one of them or a known extra (see LoadOptions); otherwise the error
// lists each problem as the expected name and shape and what was found, and
// the tensors the model would not use. To ignore such tensors, delete them
// from ts first.
func WeightsFromTensors(cfg Config, ts map[string]*checkpoint.Tensor) (*Weights, error) {
	p, err := planWeights(cfg, shapesOf(ts), LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	w, err := p.fill(ts)
	if err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	return w, nil
}

// LoadOptions relax what Load accepts.
type LoadOptions struct {
	// AllowExtraTensors makes Load ignore checkpoint tensors the model does
	// not use instead of failing with a list of them. Without it only the
	// known extras are ignored: the Hugging Face pooler (deit.pooler.*,
	// vit.pooler.*) and mask token (deit.embeddings.mask_token,
	// vit.embeddings.mask_token), which the image classifiers never run.
	// Either way the ignored tensors are never read, and Model.Notes lists
	// them.
	AllowExtraTensors bool
}

// knownExtra reports whether name is a tensor that published DeiT / ViT
// checkpoints may hold but that the classifier does not use.
func knownExtra(name string) bool {
	for _, p := range []string{"deit.", "vit."} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return strings.HasPrefix(rest, "pooler.") || rest == "embeddings.mask_token"
		}
	}
	return false
}

// tensorShapes maps the tensor names of a checkpoint to their shapes: all
// that layout detection and the shape checks need, before any value is read.
type tensorShapes map[string][]int

// shapesOf is the tensorShapes of converted tensors (nil entries left out).
func shapesOf(ts map[string]*checkpoint.Tensor) tensorShapes {
	out := make(tensorShapes, len(ts))
	for n, t := range ts {
		if t != nil {
			out[n] = t.Shape
		}
	}
	return out
}

// indexShapes is the tensorShapes of a checkpoint index.
func indexShapes(index []checkpoint.Info) tensorShapes {
	out := make(tensorShapes, len(index))
	for _, in := range index {
		out[in.Name] = in.Shape
	}
	return out
}

// weightsPlan is the outcome of checking a checkpoint's names and shapes
// against a config: which tensors to read and where each one goes.
type weightsPlan struct {
	cfg    Config
	l      layout
	w      *Weights
	specs  []tensorSpec
	extras []string // tensors that will not be read, sorted
}

// names lists the tensors the plan reads.
func (p *weightsPlan) names() []string {
	out := make([]string, len(p.specs))
	for i, s := range p.specs {
		out[i] = s.name
	}
	return out
}

// planWeights checks the names and shapes of a checkpoint against cfg:
// every tensor the layout needs must be there with its exact shape, and
// every other tensor must be a known extra unless opts allow extras.
func planWeights(cfg Config, shapes tensorShapes, opts LoadOptions) (*weightsPlan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	l, head, err := detectLayout(shapes)
	if err != nil {
		return nil, err
	}
	if head != headUnknown && head != cfg.Head {
		return nil, fmt.Errorf("the config asks for %v (%s) but the %v checkpoint holds %v (%s)",
			cfg.Head, headTensors(l, cfg.Head), l, head, headTensors(l, head))
	}
	// Every layer needs at least a dozen tensors, so a config with more
	// layers than the checkpoint has tensors (a mistaken or hostile
	// config.json) is refused before layoutSpecs allocates for it.
	if cfg.Layers > len(shapes) {
		return nil, fmt.Errorf("the config asks for %d layers but the %v checkpoint holds only %d tensors", cfg.Layers, l, len(shapes))
	}
	p := &weightsPlan{cfg: cfg, l: l, w: &Weights{}}
	p.specs = layoutSpecs(l, cfg, p.w)
	used := make(map[string]bool, len(p.specs))
	var problems []string
	for _, s := range p.specs {
		used[s.name] = true
		shape, ok := shapes[s.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: want %v, found nothing", s.name, s.shape))
		case !sameShape(shape, s.shape):
			problems = append(problems, fmt.Sprintf("%s: want %v, found %v", s.name, s.shape, shape))
		}
	}
	var unused []string
	for name := range shapes {
		switch {
		case used[name]:
		case knownExtra(name) || opts.AllowExtraTensors:
			p.extras = append(p.extras, name)
		default:
			unused = append(unused, name)
		}
	}
	slices.Sort(p.extras)
	slices.Sort(unused)
	fits := fmt.Sprintf("the config (D=%d, layers=%d, MLP=%d, %d tokens, patch %d, %d labels, %v)",
		cfg.Hidden, cfg.Layers, cfg.MLP, cfg.Tokens(), cfg.PatchSize, cfg.NumLabels, cfg.Head)
	var msg []string
	if len(problems) > 0 {
		msg = append(msg, fmt.Sprintf("%v checkpoint does not fit %s; %d tensor(s) wrong:\n  %s",
			l, fits, len(problems), listCapped(problems, "\n  ")))
	}
	if len(unused) > 0 {
		m := fmt.Sprintf("%v checkpoint holds %d tensor(s) that %s does not use: %s",
			l, len(unused), fits, listCapped(quoteNames(unused), ", "))
		if n := highestLayer(l, unused); n > cfg.Layers {
			m += fmt.Sprintf(" (the checkpoint has %d layers, the config num_hidden_layers %d)", n, cfg.Layers)
		}
		msg = append(msg, m+"; deit.LoadOptions.AllowExtraTensors ignores them")
	}
	if len(msg) > 0 {
		return nil, errors.New(strings.Join(msg, "\nand the "))
	}
	return p, nil
}

// fill stores the converted tensors ts, which must hold every tensor of the
// plan, into the plan's Weights.
func (p *weightsPlan) fill(ts map[string]*checkpoint.Tensor) (*Weights, error) {
	var problems []string
	for _, s := range p.specs {
		t := ts[s.name]
		switch {
		case t == nil:
			problems = append(problems, fmt.Sprintf("%s: not read", s.name))
		case len(t.Data) != numel(s.shape):
			problems = append(problems, fmt.Sprintf("%s: shape %v but %d values", s.name, t.Shape, len(t.Data)))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%v checkpoint: %d tensor(s) wrong:\n  %s", p.l, len(problems), listCapped(problems, "\n  "))
	}
	for _, s := range p.specs {
		if i := firstNonFinite(ts[s.name].Data); i >= 0 {
			return nil, fmt.Errorf("tensor %s: element %d (index %v) is %v: the checkpoint is corrupt or was saved after training diverged",
				s.name, i, unravel(i, s.shape), ts[s.name].Data[i])
		}
	}
	for _, s := range p.specs {
		s.set(ts[s.name].Data)
	}
	return p.w, nil
}

// firstNonFinite is the index of the first NaN or ±Inf in v, or -1. Every
// forward pass scans its input with it (a batch of 256 images is 38M values,
// 60 ms on one core), so large slices are split over the CPUs.
func firstNonFinite(v []float32) int {
	const block = 1 << 16
	if len(v) < 8*block { // not worth goroutines (and no allocation: engines promise none)
		for i, x := range v {
			if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
				return i
			}
		}
		return -1
	}
	first := atomic.Int64{}
	first.Store(int64(len(v)))
	par.RowsAtLeast((len(v)+block-1)/block, 8, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			if int64(b*block) >= first.Load() {
				return // an earlier one is found
			}
			for i, x := range v[b*block : min((b+1)*block, len(v))] {
				if math.Float32bits(x)&0x7f800000 != 0x7f800000 {
					continue
				}
				for j := int64(b*block + i); ; { // keep the smallest index
					cur := first.Load()
					if j >= cur || first.CompareAndSwap(cur, j) {
						return
					}
				}
			}
		}
	})
	if n := first.Load(); n < int64(len(v)) {
		return int(n)
	}
	return -1
}

// unravel turns flat row-major index i into per-dimension indices of shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k] = i % shape[k]
			i /= shape[k]
		}
	}
	return idx
}

// maxListed caps the items an error message lists.
const maxListed = 12

// listCapped joins at most maxListed items with sep, saying how many more
// there are.
func listCapped(items []string, sep string) string {
	if len(items) <= maxListed {
		return strings.Join(items, sep)
	}
	return strings.Join(items[:maxListed], sep) + fmt.Sprintf("%s… and %d more", sep, len(items)-maxListed)
}

// quoteNames shows tensor names from a file in a message: printable ones as
// they are, others escaped, long ones cut.
func quoteNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = shortName(n)
	}
	return out
}

// shortName is n as it is when it is printable ASCII of at most 96 bytes,
// else quoted with strconv.Quote and cut.
func shortName(n string) string {
	const max = 96
	plain := len(n) <= max
	for i := 0; plain && i < len(n); i++ {
		plain = n[i] >= ' ' && n[i] <= '~'
	}
	switch {
	case plain:
		return n
	case len(n) <= max:
		return strconv.Quote(n)
	}
	return strconv.Quote(n[:max]) + fmt.Sprintf("… (%d bytes)", len(n))
}

// highestLayer is one more than the largest encoder layer index among the
// names of layout l (0 when none names a layer).
func highestLayer(l layout, names []string) int {
	prefix := "blocks."
	switch l {
	case layoutHFDeiT:
		prefix = "deit.encoder.layer."
	case layoutHFViT:
		prefix = "vit.encoder.layer."
	}
	n := 0
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(idx); err == nil && i >= 0 && i < 1<<20 {
			n = max(n, i+1)
		}
	}
	return n
}

// headTensors names the head tensors of a layout, for error messages.
func headTensors(l layout, h HeadKind) string {
	switch {
	case h == HeadDistilled && l == layoutTimm:
		return "head + head_dist"
	case h == HeadDistilled:
		return "cls_classifier + distillation_classifier"
	case l == layoutTimm && h == HeadDistilledClassifier:
		return "dist_token, head only"
	case l == layoutTimm:
		return "head, no dist_token"
	}
	return "classifier"
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// layoutSpecs lists every tensor layout l must hold for cfg, each with a
// setter that stores it into w. The setters run only once every tensor has
// been checked against its spec, so w.Special is allocated there, sized by a
// hidden width the checkpoint has confirmed rather than by cfg alone.
func layoutSpecs(l layout, cfg Config, w *Weights) []tensorSpec {
	D, M, L, S, T := cfg.Hidden, cfg.MLP, cfg.NumLabels, cfg.Special(), cfg.Tokens()
	C, P := cfg.Channels, cfg.PatchSize
	w.Layers = make([]Layer, cfg.Layers)
	var specs []tensorSpec
	add := func(name string, shape []int, set func([]float32)) {
		specs = append(specs, tensorSpec{name, shape, set})
	}
	to := func(dst *[]float32) func([]float32) {
		return func(d []float32) { *dst = view(d, 0, len(d)) }
	}
	token := func(i int) func([]float32) {
		return func(d []float32) {
			if w.Special == nil {
				w.Special = make([]float32, S*D)
			}
			copy(w.Special[i*D:(i+1)*D], d)
		}
	}
	vec, mat := []int{D}, []int{D, D}

	if l == layoutTimm {
		add("cls_token", []int{1, 1, D}, token(0))
		if S == 2 {
			add("dist_token", []int{1, 1, D}, token(1))
		}
		add("pos_embed", []int{1, T, D}, to(&w.Pos))
		add("patch_embed.proj.weight", []int{D, C, P, P}, to(&w.PatchW))
		add("patch_embed.proj.bias", vec, to(&w.PatchB))
		for i := range w.Layers {
			ly := &w.Layers[i]
			p := fmt.Sprintf("blocks.%d.", i)
			add(p+"norm1.weight", vec, to(&ly.LN1G))
			add(p+"norm1.bias", vec, to(&ly.LN1B))
			add(p+"attn.qkv.weight", []int{3 * D, D}, func(d []float32) {
				ly.QW, ly.KW, ly.VW = view(d, 0, D*D), view(d, D*D, 2*D*D), view(d, 2*D*D, 3*D*D)
			})
			add(p+"attn.qkv.bias", []int{3 * D}, func(d []float32) {
				ly.QB, ly.KB, ly.VB = view(d, 0, D), view(d, D, 2*D), view(d, 2*D, 3*D)
			})
			add(p+"attn.proj.weight", mat, to(&ly.ProjW))
			add(p+"attn.proj.bias", vec, to(&ly.ProjB))
			add(p+"norm2.weight", vec, to(&ly.LN2G))
			add(p+"norm2.bias", vec, to(&ly.LN2B))
			add(p+"mlp.fc1.weight", []int{M, D}, to(&ly.FC1W))
			add(p+"mlp.fc1.bias", []int{M}, to(&ly.FC1B))
			add(p+"mlp.fc2.weight", []int{D, M}, to(&ly.FC2W))
			add(p+"mlp.fc2.bias", vec, to(&ly.FC2B))
		}
		add("norm.weight", vec, to(&w.NormG))
		add("norm.bias", vec, to(&w.NormB))
		add("head.weight", []int{L, D}, to(&w.ClsW))
		add("head.bias", []int{L}, to(&w.ClsB))
		if cfg.Head == HeadDistilled {
			add("head_dist.weight", []int{L, D}, to(&w.DistW))
			add("head_dist.bias", []int{L}, to(&w.DistB))
		}
		return specs
	}

	prefix := "deit"
	if l == layoutHFViT {
		prefix = "vit"
	}
	e := prefix + ".embeddings."
	add(e+"cls_token", []int{1, 1, D}, token(0))
	if S == 2 {
		add(e+"distillation_token", []int{1, 1, D}, token(1))
	}
	add(e+"position_embeddings", []int{1, T, D}, to(&w.Pos))
	add(e+"patch_embeddings.projection.weight", []int{D, C, P, P}, to(&w.PatchW))
	add(e+"patch_embeddings.projection.bias", vec, to(&w.PatchB))
	for i := range w.Layers {
		ly := &w.Layers[i]
		p := fmt.Sprintf("%s.encoder.layer.%d.", prefix, i)
		add(p+"layernorm_before.weight", vec, to(&ly.LN1G))
		add(p+"layernorm_before.bias", vec, to(&ly.LN1B))
		add(p+"attention.attention.query.weight", mat, to(&ly.QW))
		add(p+"attention.attention.query.bias", vec, to(&ly.QB))
		add(p+"attention.attention.key.weight", mat, to(&ly.KW))
		add(p+"attention.attention.key.bias", vec, to(&ly.KB))
		add(p+"attention.attention.value.weight", mat, to(&ly.VW))
		add(p+"attention.attention.value.bias", vec, to(&ly.VB))
		add(p+"attention.output.dense.weight", mat, to(&ly.ProjW))
		add(p+"attention.output.dense.bias", vec, to(&ly.ProjB))
		add(p+"layernorm_after.weight", vec, to(&ly.LN2G))
		add(p+"layernorm_after.bias", vec, to(&ly.LN2B))
		add(p+"intermediate.dense.weight", []int{M, D}, to(&ly.FC1W))
		add(p+"intermediate.dense.bias", []int{M}, to(&ly.FC1B))
		add(p+"output.dense.weight", []int{D, M}, to(&ly.FC2W))
		add(p+"output.dense.bias", vec, to(&ly.FC2B))
	}
	add(prefix+".layernorm.weight", vec, to(&w.NormG))
	add(prefix+".layernorm.bias", vec, to(&w.NormB))
	if cfg.Head == HeadDistilled {
		add("cls_classifier.weight", []int{L, D}, to(&w.ClsW))
		add("cls_classifier.bias", []int{L}, to(&w.ClsB))
		add("distillation_classifier.weight", []int{L, D}, to(&w.DistW))
		add("distillation_classifier.bias", []int{L}, to(&w.DistB))
	} else {
		add("classifier.weight", []int{L, D}, to(&w.ClsW))
		add("classifier.bias", []int{L}, to(&w.ClsB))
	}
	return specs
}

// check verifies that every slice in w has the length cfg implies, so that
// hand-built or random weights fail clearly instead of indexing out of range,
// and that every value is finite, so that no engine computes NaN logits
// from them.
func (w *Weights) check(cfg Config) error {
	if w == nil {
		return fmt.Errorf("no weights")
	}
	D, M, L, S, T := cfg.Hidden, cfg.MLP, cfg.NumLabels, cfg.Special(), cfg.Tokens()
	type item struct {
		name string
		s    []float32
		n    int
	}
	items := []item{
		{"PatchW", w.PatchW, D * cfg.Channels * cfg.PatchSize * cfg.PatchSize}, {"PatchB", w.PatchB, D},
		{"Special", w.Special, S * D}, {"Pos", w.Pos, T * D},
		{"NormG", w.NormG, D}, {"NormB", w.NormB, D}, {"ClsW", w.ClsW, L * D}, {"ClsB", w.ClsB, L},
	}
	if cfg.Head == HeadDistilled {
		items = append(items, item{"DistW", w.DistW, L * D}, item{"DistB", w.DistB, L})
	}
	if len(w.Layers) != cfg.Layers {
		return fmt.Errorf("weights have %d layers, config %d", len(w.Layers), cfg.Layers)
	}
	for i, ly := range w.Layers {
		p := fmt.Sprintf("Layers[%d].", i)
		items = append(items,
			item{p + "LN1G", ly.LN1G, D}, item{p + "LN1B", ly.LN1B, D},
			item{p + "QW", ly.QW, D * D}, item{p + "QB", ly.QB, D},
			item{p + "KW", ly.KW, D * D}, item{p + "KB", ly.KB, D},
			item{p + "VW", ly.VW, D * D}, item{p + "VB", ly.VB, D},
			item{p + "ProjW", ly.ProjW, D * D}, item{p + "ProjB", ly.ProjB, D},
			item{p + "LN2G", ly.LN2G, D}, item{p + "LN2B", ly.LN2B, D},
			item{p + "FC1W", ly.FC1W, M * D}, item{p + "FC1B", ly.FC1B, M},
			item{p + "FC2W", ly.FC2W, D * M}, item{p + "FC2B", ly.FC2B, D})
	}
	for _, it := range items {
		if len(it.s) != it.n {
			return fmt.Errorf("weights %s has %d values, config needs %d", it.name, len(it.s), it.n)
		}
	}
	for _, it := range items {
		if i := firstNonFinite(it.s); i >= 0 {
			return fmt.Errorf("weights %s[%d] is %v", it.name, i, it.s[i])
		}
	}
	return nil
}

// Count is the number of parameters in w (every weight, bias, gain, token
// and position value), what timm reports as param_count.
func (w *Weights) Count() int {
	if w == nil {
		return 0
	}
	n := len(w.PatchW) + len(w.PatchB) + len(w.Special) + len(w.Pos) + len(w.NormG) + len(w.NormB) +
		len(w.ClsW) + len(w.ClsB) + len(w.DistW) + len(w.DistB)
	for _, l := range w.Layers {
		for _, s := range [][]float32{l.LN1G, l.LN1B, l.QW, l.QB, l.KW, l.KB, l.VW, l.VB, l.ProjW, l.ProjB,
			l.LN2G, l.LN2B, l.FC1W, l.FC1B, l.FC2W, l.FC2B} {
			n += len(s)
		}
	}
	return n
}
