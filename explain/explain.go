// Package explain turns a DeiT model's attention probabilities
// (deit.TapAttention) into maps of where the model looks: attention rollout
// (Abnar & Zuidema 2020) and the last layer's attention of the special
// tokens ([CLS], and [DIST] for distilled models) over the image patches,
// each a grid of ImageSize/PatchSize × ImageSize/PatchSize cells summing to
// 1, and draws them over the image as a colour overlay with a caption.
package explain

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/vkdeit/vkdeit/deit"
)

// Method is how a map is made from the attention probabilities.
type Method string

const (
	// Rollout is attention rollout (Abnar & Zuidema 2020): per layer the
	// head-averaged attention plus the identity (the residual connection),
	// rows renormalized to sum 1, multiplied through the layers from the
	// first to the last; a map is a special token's row of the product.
	Rollout Method = "rollout"
	// Last is the last layer's attention of a special token over the
	// patches: one map per head, and their mean.
	Last Method = "last"
)

// Methods lists the methods, the default first.
var Methods = []Method{Rollout, Last}

// ParseMethod reads a method name ("rollout", "last").
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods {
		if strings.EqualFold(strings.TrimSpace(s), string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown attention-map method %q (want rollout or last)", s)
}

// Map is one attention map of one image: how much a special token attends
// to each patch, on the patch grid.
type Map struct {
	Method Method `json:"method"`
	// Token is the special token whose attention the map shows: "cls" or
	// "dist".
	Token string `json:"token"`
	// Head is the attention head of a per-head Last map, or -1 for a map
	// over all heads (Rollout, and the head mean of Last).
	Head int `json:"head"`
	// Rows and Cols are the patch grid: ImageSize/PatchSize each.
	Rows int `json:"rows"`
	Cols int `json:"cols"`
	// Values are the Rows·Cols cells row by row (patch order), ≥ 0 and
	// summing to 1.
	Values []float64 `json:"values"`
}

// Name identifies the map among an image's maps, for file names:
// "rollout-cls", "last-dist-mean", "last-cls-head2".
func (m Map) Name() string {
	if m.Head < 0 {
		if m.Method == Last {
			return fmt.Sprintf("%s-%s-mean", m.Method, m.Token)
		}
		return fmt.Sprintf("%s-%s", m.Method, m.Token)
	}
	return fmt.Sprintf("%s-%s-head%d", m.Method, m.Token, m.Head)
}

// tokenNames are the special tokens in front of the patches, in order.
var tokenNames = [...]string{"cls", "dist"}

// Maps returns the maps of image b made by method from attention, the
// deit.TapAttention output of a batch (engine.Output.Attention: per layer
// [B, Heads, T, T]): for every special token ([CLS], then [DIST] for models
// that have one) its Rollout map, or its Last maps — the head mean, then
// each head.
func Maps(method Method, attention [][]float32, b int, c deit.Config) ([]Map, error) {
	H, T, S := c.Heads, c.Tokens(), c.Special()
	grid := c.ImageSize / max(c.PatchSize, 1)
	if len(attention) == 0 {
		return nil, errors.New("explain: no attention probabilities (run the engine with deit.TapAttention)")
	}
	if len(attention) != c.Layers {
		return nil, fmt.Errorf("explain: attention of %d layers for a %d-layer model", len(attention), c.Layers)
	}
	if H < 1 || T <= S || grid*grid != T-S {
		return nil, fmt.Errorf("explain: config with %d heads and %d tokens has no patch grid", H, T)
	}
	per := H * T * T
	for l, a := range attention {
		if b < 0 || len(a) < (b+1)*per {
			return nil, fmt.Errorf("explain: layer %d: %d attention values hold no image %d (%d per image)", l, len(a), b, per)
		}
		for i, v := range a[b*per : (b+1)*per] {
			if !(v >= 0 && v <= 1) {
				return nil, fmt.Errorf("explain: layer %d: attention value %d of image %d is %g, not a probability", l, i, b, v)
			}
		}
	}
	img := make([][]float32, len(attention))
	for l, a := range attention {
		img[l] = a[b*per : (b+1)*per]
	}
	var maps []Map
	add := func(s, head int, row []float64) error {
		m := Map{Method: method, Token: tokenNames[s], Head: head, Rows: grid, Cols: grid}
		var err error
		if m.Values, err = patchMap(row, S); err != nil {
			return fmt.Errorf("explain: image %d: %s: %w", b, m.Name(), err)
		}
		maps = append(maps, m)
		return nil
	}
	for s := range S {
		switch method {
		case Rollout:
			if err := add(s, -1, rollout(img, s, H, T)); err != nil {
				return nil, err
			}
		case Last:
			a := img[len(img)-1]
			mean := make([]float64, T)
			rows := make([][]float64, H)
			for h := range H {
				rows[h] = make([]float64, T)
				for u, v := range a[(h*T+s)*T:][:T] {
					rows[h][u] = float64(v)
					mean[u] += float64(v) / float64(H)
				}
			}
			if err := add(s, -1, mean); err != nil {
				return nil, err
			}
			for h := range H {
				if err := add(s, h, rows[h]); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("explain: unknown method %q", method)
		}
	}
	return maps, nil
}

// rollout returns token s's row of Ã_L···Ã_1, where Ã_l is layer l's
// head-averaged attention plus the identity with its rows renormalized:
// the row vector e_s multiplied by Ã_L first, then down to Ã_1 (T² work
// per layer instead of the T³ of the whole product).
func rollout(layers [][]float32, s, H, T int) []float64 {
	v := make([]float64, T)
	v[s] = 1
	next := make([]float64, T)
	a := make([]float64, T*T)
	for l := len(layers) - 1; l >= 0; l-- {
		att := layers[l]
		clear(a)
		for h := range H {
			for i, p := range att[h*T*T:][:T*T] {
				a[i] += float64(p)
			}
		}
		for i := range T {
			row := a[i*T:][:T]
			row[i] += float64(H) // the identity, at the heads' scale
			var sum float64
			for _, x := range row {
				sum += x
			}
			for j := range row {
				row[j] /= sum
			}
		}
		clear(next)
		for i, vi := range v {
			if vi == 0 {
				continue
			}
			for j, x := range a[i*T:][:T] {
				next[j] += vi * x
			}
		}
		v, next = next, v
	}
	return v
}

// patchMap is row's patch part (after the S special tokens), normalized to
// sum 1.
func patchMap(row []float64, S int) ([]float64, error) {
	m := append([]float64(nil), row[S:]...)
	var sum float64
	for _, v := range m {
		sum += v
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		return nil, fmt.Errorf("attention over the patches sums to %g: no map", sum)
	}
	for i := range m {
		m[i] /= sum
	}
	return m, nil
}
