package server

import (
	"slices"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/explain"
)

// outputAttention is FP32 [B, S, G, G]: the attention rollout (explain.Rollout)
// of each special token ([CLS], then [DIST] for distilled models) over the
// G×G patch grid (G = ImageSize/PatchSize), each map summing to 1 — what
// `vkdeit explain --format npy` writes per image and token. Asking for it
// makes the request's forward passes compute the attention probabilities
// (deit.TapAttention); other requests do not pay for them.
const outputAttention = "attention"

// wantsAttention reports whether the request asks for the attention tap.
func (r *request) wantsAttention() bool {
	return slices.Contains(r.outputs, outputAttention)
}

// attentionTensor is the attention output of n images from their
// attention probabilities (per layer [n, Heads, T, T], the images' part of
// a batch's engine.Output.Attention).
func attentionTensor(c deit.Config, att [][]float32, n int) (tensor, error) {
	S, G := c.Special(), c.ImageSize/c.PatchSize
	t := tensor{name: outputAttention, shape: []int64{int64(n), int64(S), int64(G), int64(G)}}
	t.data = make([]float32, 0, n*S*G*G)
	for b := range n {
		maps, err := explain.Maps(explain.Rollout, att, b, c)
		if err != nil {
			return tensor{}, errorf(kindInternal, "%v", err)
		}
		for _, m := range maps {
			for _, v := range m.Values {
				t.data = append(t.data, float32(v))
			}
		}
	}
	return t, nil
}
