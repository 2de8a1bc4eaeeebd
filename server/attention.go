package server

import (
	"fmt"
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

// attentionRow is the number of attention-map values per image: S maps of
// G×G.
func attentionRow(c deit.Config) int {
	G := c.ImageSize / c.PatchSize
	return c.Special() * G * G
}

// rolloutMaps writes image b's rollout maps ([S, G, G]) from a batch's
// attention tap (per layer [B, Heads, T, T]) into dst. The batcher calls
// it as it hands out the batch's rows, so a request holds its maps, not
// the batch's probabilities.
func rolloutMaps(c deit.Config, att [][]float32, b int, dst []float32) error {
	maps, err := explain.Maps(explain.Rollout, att, b, c)
	if err != nil {
		return errorf(kindInternal, "attention: %v", err)
	}
	i := 0
	for _, m := range maps {
		for _, v := range m.Values {
			if i == len(dst) {
				return errorf(kindInternal, "attention: more map values than the %d of an image", len(dst))
			}
			dst[i] = float32(v)
			i++
		}
	}
	if i != len(dst) {
		return fmt.Errorf("server: attention: %d map values, want %d", i, len(dst))
	}
	return nil
}

// attentionTensor is the attention output of n images from their maps
// (results.att).
func attentionTensor(c deit.Config, att []float32, n int) tensor {
	G := int64(c.ImageSize / c.PatchSize)
	return tensor{name: outputAttention, shape: []int64{int64(n), int64(c.Special()), G, G}, data: att}
}
