package deit

import (
	"fmt"
	"math"
)

// The forward pass, written once. NewPlan turns a Model into an ordered list
// of typed steps — which kernel, which activations it reads and writes,
// which weights, which fusion and epilogue — and every engine executes that
// list with its own kernels: the reference with the float64 twins of
// internal/ref, the CPU engine with package cpu, the GPU engine by recording
// one Vulkan dispatch per step. No engine writes the layer loop itself.
// docs/ARCHITECTURE.md ("The forward plan") shows the list and says which
// files change for a new step, fusion, tap or precision.

// Value names an activation of the plan: a buffer the steps read and write.
// Every value is a row-major matrix of B·rows rows (rows per image) by cols
// columns; Plan.Shape gives both.
type Value uint8

const (
	Pixels     Value = iota // [B, C·H·W] the preprocessed images, the input
	Patches                 // [B·N, C·P·P] each patch flattened in (c, ky, kx) order
	Embedded                // [B·N, D] patch embeddings
	Stream                  // [B·T, D] the residual stream: a layer's input and output
	Stream1                 // [B·T, D] the residual stream after a layer's attention
	Normed                  // [B·T, D] a LayerNorm's output, the next product's input
	QKV                     // [B·T, 3D] Q, K and V side by side, head j of part s at columns s·D + j·Dh
	Context                 // [B·T, D] attention output, heads merged
	Hidden                  // [B·T, M] the MLP's GELU(fc1) rows
	HeadRows                // [B·H, D] the head tokens' rows of the last layer (H = Config.HeadTokens)
	Embeddings              // [B·H, D] those rows after the final LayerNorm: what the head reads
	Logits                  // [B, L] the output
	// Probs [B·Heads·T, T]: one layer's attention probabilities, image b,
	// head h, query t at row (b·Heads + h)·T + t. Only the optional
	// AttentionProbs steps write it.
	Probs

	NumValues int = iota // the number of values
)

var valueNames = [...]string{"pixels", "patches", "embedded", "stream", "stream1", "normed", "qkv", "context", "hidden", "head_rows", "embeddings", "logits", "probs"}

// String returns the value's name in the plan, e.g. "qkv".
func (v Value) String() string {
	if int(v) < len(valueNames) {
		return valueNames[v]
	}
	return fmt.Sprintf("Value(%d)", int(v))
}

// Narrow reports whether an engine computing below fp32 stores v in its
// narrow type (fp16, bf16): the inputs of the big products and attention.
// The residual stream, the patch embeddings, the head's input and output
// stay fp32 at every precision: they carry the accumulated signal and are
// the engine's outputs.
func (v Value) Narrow() bool {
	switch v {
	case Patches, Normed, QKV, Context, Hidden:
		return true
	}
	return false
}

// Epilogue is what a Linear step does to each element after the product and
// the bias, before its one store.
type Epilogue uint8

const (
	EpilogueNone     Epilogue = iota // y = x·Wᵀ + b
	EpilogueGELU                     // y = GELU(x·Wᵀ + b), exact erf form
	EpilogueResidual                 // y = x·Wᵀ + b + r, r the step's Resid value
)

// String returns "none", "gelu" or "residual".
func (e Epilogue) String() string {
	switch e {
	case EpilogueNone:
		return "none"
	case EpilogueGELU:
		return "gelu"
	case EpilogueResidual:
		return "residual"
	}
	return fmt.Sprintf("Epilogue(%d)", int(e))
}

// Tap is a set of intermediate results an engine can hand back besides the
// logits. A step whose StepInfo.Tap is set produces that tap in its Out
// value; engines copy it out only when asked, so a tap costs nothing
// otherwise. Tapped values are fp32 at every precision.
type Tap uint8

const (
	// TapHidden: every encoder layer's output, the residual stream after the
	// block ([Layers][B·T·D]), for checking engines layer by layer.
	TapHidden Tap = 1 << iota
	// TapEmbeddings: the final-LayerNorm rows of the head tokens,
	// [B, HeadTokens·D]: per image [CLS] then, for distilled models,
	// [DIST] (Hugging Face's last_hidden_state[:, 0] and [:, 1]).
	TapEmbeddings
	// TapAttention: every encoder layer's attention probabilities
	// softmax(scale·q·kᵀ) ([Layers][B·Heads·T·T], Hugging Face's
	// output_attentions), made by optional AttentionProbs steps: the fused
	// attention kernels never hold them whole.
	TapAttention
)

// Step is one step of the plan: *Patchify, *Linear, *Tokens, *LayerNorm,
// *Attention, *AttentionProbs or *GatherRows. Engines execute a plan with a type switch.
type Step interface {
	// Info is what every step has: its name, kernel family, layer, the
	// values it reads and writes, and the tap it produces.
	Info() *StepInfo
	// FLOPs counts the step's floating-point operations at batch B (0 for
	// data movement and normalization, which are bound by memory).
	FLOPs(B int) float64
}

// StepInfo is the part of a step every kind has.
type StepInfo struct {
	// Name is unique in the plan and is the label profiles show:
	// "patch_embed", "layer3.fc1", "head".
	Name string
	// Kernel is the kernel family that runs the step, the name profiles
	// group by: "patchify", "matmul", "tokens", "layernorm", "attention",
	// "gatherrows" (the names of shaders/, gpu/ops_*.go and internal/ref).
	Kernel string
	// Layer is the encoder layer, or -1 outside the encoder.
	Layer int
	// In and Out are the values the step reads and writes.
	In, Out Value
	// Tap, when not 0, says that Out holds this tap after the step.
	Tap Tap
	// Optional steps exist only to produce their Tap: engines execute (and
	// record) them only when that tap is asked for, so a forward pass
	// without it costs nothing more. No other step reads an optional
	// step's Out.
	Optional bool
}

// Info implements Step.
func (s *StepInfo) Info() *StepInfo { return s }

// Runs reports whether an engine executes the step in a pass asked for
// taps: always, unless the step is Optional and its tap is not asked for.
func (s *StepInfo) Runs(taps Tap) bool { return !s.Optional || s.Tap&taps != 0 }

// FLOPs implements Step for the steps that only move or normalize data.
func (s *StepInfo) FLOPs(int) float64 { return 0 }

// Patchify cuts Pixels [B, C, S, S] into Patches [B·N, C·P·P]: the stride-P,
// kernel-P convolution of the patch embedding becomes the Linear after it.
type Patchify struct {
	StepInfo
	Channels, Size, Patch int // C, S (the image side) and P
}

// Linear is out[m, n] = epilogue(Σ_k in[m, k]·W[n, k] + Bias[n]) over the
// B·Rows rows of In, W in nn.Linear layout [N, K].
type Linear struct {
	StepInfo
	Rows     int       // rows per image of In and Out
	N, K     int       // output and input width
	W        []float32 // [N, K]
	Bias     []float32 // [N]
	Epilogue Epilogue
	// Resid is the value EpilogueResidual adds (same shape as Out); other
	// epilogues ignore it.
	Resid Value
	// MeanOf, when set, says that W and Bias fuse these Linears, whose mean
	// is the step's result, part i reading columns [i·K/n, (i+1)·K/n) of In:
	// a distilled model's two heads, fused as [½W_cls | ½W_dist] and
	// ½(b_cls + b_dist). Halving a float32 is exact, so the fusion changes
	// only the summation order and the rounding of the fused bias; fast
	// engines run W and Bias as one product, the reference runs the parts
	// as the model defines them.
	MeanOf []LinearWeights
}

// LinearWeights are one nn.Linear's parameters: W [N, K] and Bias [N].
type LinearWeights struct {
	W, Bias []float32
	N, K    int
}

// FLOPs implements Step: a multiply and an add per weight per row.
func (s *Linear) FLOPs(B int) float64 {
	return 2 * float64(B*s.Rows) * float64(s.N) * float64(s.K)
}

// Tokens builds the residual stream from Embedded: image b's row t is
// Special[t] for the first S tokens ([CLS], then [DIST] for distilled
// models) and patch t−S's embedding after them, plus Pos[t].
type Tokens struct {
	StepInfo
	T, S, D      int       // tokens, special tokens, width
	Special, Pos []float32 // [S, D] and [T, D]
}

// LayerNorm normalizes each of the B·Rows rows of In over its D columns
// (biased variance, Eps inside the root) and applies Gamma and Beta.
type LayerNorm struct {
	StepInfo
	Rows, D     int
	Gamma, Beta []float32
	Eps         float32
}

// Attention is softmax(Scale·q·kᵀ)·v for every image, head and query row,
// reading the fused QKV rows and writing the heads merged.
type Attention struct {
	StepInfo
	T, Heads, HeadDim int
	Scale             float64 // 1/√HeadDim
}

// FLOPs implements Step: q·kᵀ and p·v, 2·T·T·D multiply-adds per image.
func (s *Attention) FLOPs(B int) float64 {
	return 4 * float64(B) * float64(s.T) * float64(s.T) * float64(s.Heads*s.HeadDim)
}

// AttentionProbs writes the attention probabilities softmax(Scale·q·kᵀ)
// of every image, head and query row, read from the fused QKV rows as
// Attention reads them: Out row (b·Heads + h)·T + t holds image b, head h,
// query t over the T keys. It is optional (StepInfo.Optional), producing
// TapAttention.
type AttentionProbs struct {
	StepInfo
	T, Heads, HeadDim int
	Scale             float64 // 1/√HeadDim
}

// FLOPs implements Step: q·kᵀ again, 2·T·T·D per image.
func (s *AttentionProbs) FLOPs(B int) float64 {
	return 2 * float64(B) * float64(s.T) * float64(s.T) * float64(s.Heads*s.HeadDim)
}

// GatherRows copies the first Rows of each image's T rows of In: the head
// tokens, the only rows the final LayerNorm and the head need.
type GatherRows struct {
	StepInfo
	T, Rows, D int
}

// Plan is the forward pass of one model, as steps in execution order.
type Plan struct {
	Config Config
	Steps  []Step
}

// NewPlan checks m's configuration and weights and returns its forward
// plan. The plan shares m's weight slices, except the fused ones (QKV, the
// distilled head), which it builds once.
func NewPlan(m *Model) (*Plan, error) {
	if m == nil {
		return nil, fmt.Errorf("deit: plan: nil model")
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("deit: config: %w", err)
	}
	if err := m.Weights.check(c); err != nil {
		return nil, fmt.Errorf("deit: %w", err)
	}
	w := m.Weights
	D, T, M, N := c.Hidden, c.Tokens(), c.MLP, c.Patches()
	P, H, L := c.PatchSize, c.HeadTokens(), c.NumLabels
	K := c.Channels * P * P
	p := &Plan{Config: c}
	info := func(name, kernel string, layer int, in, out Value) StepInfo {
		if layer >= 0 {
			name = fmt.Sprintf("layer%d.%s", layer, name)
		}
		return StepInfo{Name: name, Kernel: kernel, Layer: layer, In: in, Out: out}
	}
	linear := func(name string, layer int, in, out Value, rows, n, k int, w, b []float32, ep Epilogue, resid Value) *Linear {
		return &Linear{StepInfo: info(name, "matmul", layer, in, out), Rows: rows, N: n, K: k, W: w, Bias: b, Epilogue: ep, Resid: resid}
	}
	add := func(s ...Step) { p.Steps = append(p.Steps, s...) }

	add(&Patchify{StepInfo: info("patchify", "patchify", -1, Pixels, Patches), Channels: c.Channels, Size: c.ImageSize, Patch: P},
		linear("patch_embed", -1, Patches, Embedded, N, D, K, w.PatchW, w.PatchB, EpilogueNone, 0),
		&Tokens{StepInfo: info("tokens", "tokens", -1, Embedded, Stream), T: T, S: c.Special(), D: D, Special: w.Special, Pos: w.Pos})
	for i := range w.Layers {
		l := &w.Layers[i]
		qkvW, qkvB := fusedQKV(l)
		fc2 := linear("fc2", i, Hidden, Stream, T, D, M, l.FC2W, l.FC2B, EpilogueResidual, Stream1)
		fc2.Tap = TapHidden
		scale := 1 / math.Sqrt(float64(c.HeadDim()))
		probs := &AttentionProbs{StepInfo: info("attention_probs", "attentionprobs", i, QKV, Probs), T: T, Heads: c.Heads, HeadDim: c.HeadDim(), Scale: scale}
		probs.Tap, probs.Optional = TapAttention, true
		add(&LayerNorm{StepInfo: info("ln1", "layernorm", i, Stream, Normed), Rows: T, D: D, Gamma: l.LN1G, Beta: l.LN1B, Eps: c.Eps},
			linear("qkv", i, Normed, QKV, T, 3*D, D, qkvW, qkvB, EpilogueNone, 0),
			&Attention{StepInfo: info("attention", "attention", i, QKV, Context), T: T, Heads: c.Heads, HeadDim: c.HeadDim(), Scale: scale},
			probs,
			linear("proj", i, Context, Stream1, T, D, D, l.ProjW, l.ProjB, EpilogueResidual, Stream),
			&LayerNorm{StepInfo: info("ln2", "layernorm", i, Stream1, Normed), Rows: T, D: D, Gamma: l.LN2G, Beta: l.LN2B, Eps: c.Eps},
			linear("fc1", i, Normed, Hidden, T, M, D, l.FC1W, l.FC1B, EpilogueGELU, 0),
			fc2)
	}
	// Only the head tokens reach a head, and LayerNorm works row by row, so
	// only those rows are normalized.
	final := &LayerNorm{StepInfo: info("final_norm", "layernorm", -1, HeadRows, Embeddings), Rows: H, D: D, Gamma: w.NormG, Beta: w.NormB, Eps: c.Eps}
	final.Tap = TapEmbeddings
	add(&GatherRows{StepInfo: info("gather", "gatherrows", -1, Stream, HeadRows), T: T, Rows: H, D: D}, final)
	// The head reads each image's H normalized rows end to end: one row of
	// H·D per image.
	head := linear("head", -1, Embeddings, Logits, 1, L, H*D, w.ClsW, w.ClsB, EpilogueNone, 0)
	if c.Head == HeadDistilled {
		head.MeanOf = []LinearWeights{{W: w.ClsW, Bias: w.ClsB, N: L, K: D}, {W: w.DistW, Bias: w.DistB, N: L, K: D}}
		head.W, head.Bias = fusedMean(head.MeanOf)
	}
	add(head)
	return p, nil
}

// Shape returns the rows per image and the columns of value v.
func (p *Plan) Shape(v Value) (rows, cols int) {
	c := p.Config
	D, T, N := c.Hidden, c.Tokens(), c.Patches()
	switch v {
	case Pixels:
		return 1, c.Channels * c.ImageSize * c.ImageSize
	case Patches:
		return N, c.Channels * c.PatchSize * c.PatchSize
	case Embedded:
		return N, D
	case Stream, Stream1, Normed, Context:
		return T, D
	case QKV:
		return T, 3 * D
	case Hidden:
		return T, c.MLP
	case HeadRows, Embeddings:
		return c.HeadTokens(), D
	case Logits:
		return 1, c.NumLabels
	case Probs:
		return c.Heads * T, T
	}
	return 0, 0
}

// Len is the number of elements of value v for B images.
func (p *Plan) Len(v Value, B int) int {
	rows, cols := p.Shape(v)
	return B * rows * cols
}

// Taps returns the steps that produce tap t, in order (one per layer for
// TapHidden).
func (p *Plan) Taps(t Tap) []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Info().Tap&t != 0 {
			out = append(out, s)
		}
	}
	return out
}

// Optional reports whether only optional steps write v: engines allocate
// such a value only when a pass asks for their tap.
func (p *Plan) Optional(v Value) bool {
	written := false
	for _, s := range p.Steps {
		if si := s.Info(); si.Out == v {
			if !si.Optional {
				return false
			}
			written = true
		}
	}
	return written
}

// LastWriter returns the index of the last step that writes v (−1 if none):
// a value no later step overwrites can be read after the whole pass instead
// of being copied out where it is made.
func (p *Plan) LastWriter(v Value) int {
	for i := len(p.Steps) - 1; i >= 0; i-- {
		if p.Steps[i].Info().Out == v {
			return i
		}
	}
	return -1
}

// fusedQKV stacks a layer's q, k and v projections into one [3D, D] weight
// and a [3D] bias: output s·D + j·Dh + e is part s (q, k, v) of head j,
// element e — the fused layout the attention kernels read. Each output is
// the same dot product as before, so the fusion is exact.
func fusedQKV(l *Layer) (w, b []float32) {
	w = make([]float32, 0, len(l.QW)+len(l.KW)+len(l.VW))
	w = append(append(append(w, l.QW...), l.KW...), l.VW...)
	b = make([]float32, 0, len(l.QB)+len(l.KB)+len(l.VB))
	b = append(append(append(b, l.QB...), l.KB...), l.VB...)
	return w, b
}

// fusedMean is the single nn.Linear [N, n·K] whose product with the parts'
// inputs laid end to end is the mean of the parts: [W₁/n | … | Wₙ/n] and
// (b₁ + … + bₙ)/n, summed in float64 and rounded once.
func fusedMean(parts []LinearWeights) (w, b []float32) {
	n := len(parts)
	N, K := parts[0].N, parts[0].K
	w = make([]float32, N*n*K)
	b = make([]float32, N)
	for o := range N {
		var sum float64
		for i, pt := range parts {
			for k := range K {
				w[o*n*K+i*K+k] = pt.W[o*K+k] / float32(n)
			}
			sum += float64(pt.Bias[o])
		}
		b[o] = float32(sum / float64(n))
	}
	return w, b
}
