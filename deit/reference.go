package deit

import (
	"context"
	"fmt"
	"math"

	"github.com/vkdeit/vkdeit/internal/ref"
)

// ReferenceResult is the output of ForwardReference.
type ReferenceResult struct {
	// Logits are [B, NumLabels], row-major: for HeadDistilled the average
	// of the [CLS] and [DIST] heads, otherwise the classifier on [CLS].
	Logits []float32
	// Hidden holds, for every encoder layer, its output (the residual
	// stream after the block, before the final LayerNorm), [B*T, Hidden]
	// with row b*T + t for token t of image b. It exists to check other
	// implementations layer by layer.
	Hidden [][]float32
	// Embeddings are the final-LayerNorm rows of the head tokens,
	// [B, HeadTokens·Hidden]: per image [CLS] then, for distilled models,
	// [DIST] (what Hugging Face's DeiTModel returns as
	// last_hidden_state[:, 0] and [:, 1]).
	Embeddings []float32
}

// ForwardReference runs the network on the CPU for a batch of B
// preprocessed images, pixels being [B, Channels, ImageSize, ImageSize]
// float32 (CHW per image, as imageio.Preprocessor.Apply returns them,
// concatenated). It is the reference every engine is checked against: it
// follows the model step by step (docs/deit-numerics.md) with the float64
// twins of package internal/ref, accumulating every dot product and
// reduction in float64 and rounding activations to float32 between steps
// as PyTorch stores them. It is slow; use an engine for real work. ctx is
// checked between layers.
func (m *Model) ForwardReference(ctx context.Context, pixels []float32, B int) (*ReferenceResult, error) {
	if m == nil {
		return nil, fmt.Errorf("deit: reference: nil model")
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("deit: reference: config: %w", err)
	}
	if err := m.Weights.check(c); err != nil {
		return nil, fmt.Errorf("deit: reference: %w", err)
	}
	if err := c.checkPixels(pixels, B); err != nil {
		return nil, fmt.Errorf("deit: reference: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := m.Weights
	C, HW, P := c.Channels, c.ImageSize, c.PatchSize
	D, T, S, N := c.Hidden, c.Tokens(), c.Special(), c.Patches()

	// Patch embedding: a stride-P, kernel-P convolution = a Linear over
	// each patch flattened in (c, ky, kx) order.
	patches := ref.Patchify(pixels, B, C, HW, HW, P)
	emb := ref.F32(ref.Linear(patches, w.PatchW, w.PatchB, B*N, C*P*P, D))
	// Tokens: [CLS] ([DIST]) then the patches, plus position rows.
	x := ref.Tokens(emb, w.Special, w.Pos, B, T, S, D)

	res := &ReferenceResult{Hidden: make([][]float32, 0, c.Layers)}
	for i := range w.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x = referenceLayer(x, &w.Layers[i], c, B)
		res.Hidden = append(res.Hidden, x)
	}

	// Final LayerNorm on the head tokens only (it works row by row), then
	// the head(s); a distilled model averages its two heads.
	H, L := c.HeadTokens(), c.NumLabels
	z := ref.F32(ref.LayerNorm(ref.GatherRows(x, B, T, H, D), w.NormG, w.NormB, B*H, D, float64(c.Eps)))
	res.Embeddings = z
	logits := ref.Linear(ref.GatherRows(z, B, H, 1, D), w.ClsW, w.ClsB, B, D, L)
	if c.Head == HeadDistilled {
		// [DIST] is row 1 of each image's two: the same gather, one row on.
		dist := ref.Linear(ref.GatherRows(z[D:], B, H, 1, D), w.DistW, w.DistB, B, D, L)
		for i := range logits {
			logits[i] = (logits[i] + dist[i]) / 2
		}
	}
	res.Logits = ref.F32(logits)
	return res, nil
}

// referenceLayer is one pre-LayerNorm transformer block on x [B*T, D]; it
// returns a new slice x2 = x1 + MLP(LN2(x1)) with x1 = x + Attn(LN1(x)).
func referenceLayer(x []float32, ly *Layer, c Config, B int) []float32 {
	D, T, M, Dh := c.Hidden, c.Tokens(), c.MLP, c.HeadDim()
	rows, eps := B*T, float64(c.Eps)
	a := ref.F32(ref.LayerNorm(x, ly.LN1G, ly.LN1B, rows, D, eps))
	q := ref.F32(ref.Linear(a, ly.QW, ly.QB, rows, D, D))
	k := ref.F32(ref.Linear(a, ly.KW, ly.KB, rows, D, D))
	v := ref.F32(ref.Linear(a, ly.VW, ly.VB, rows, D, D))
	o := ref.F32(ref.Attention(q, k, v, D, B, T, c.Heads, Dh, 1/math.Sqrt(float64(Dh))))
	x1 := addRows(ref.F32(ref.Linear(o, ly.ProjW, ly.ProjB, rows, D, D)), x)
	u := ref.F32(ref.LayerNorm(x1, ly.LN2G, ly.LN2B, rows, D, eps))
	h := ref.F32(ref.GELUs(ref.F32(ref.Linear(u, ly.FC1W, ly.FC1B, rows, D, M))))
	return addRows(ref.F32(ref.Linear(h, ly.FC2W, ly.FC2B, rows, M, D)), x1)
}

// addRows adds r to y in place (a residual connection, one fp32 add per
// element as PyTorch does it) and returns y.
func addRows(y, r []float32) []float32 {
	for i := range y {
		y[i] += r[i]
	}
	return y
}
