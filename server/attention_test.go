package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/explain"
)

// TestAttentionTensor: the attention output of a batch is every image's
// rollout maps, [B, S, G, G], cut from the batch's attention tap.
func TestAttentionTensor(t *testing.T) {
	c := deit.Config{Hidden: 32, Layers: 2, Heads: 2, MLP: 64, ImageSize: 32, PatchSize: 8, Channels: 3,
		NumLabels: 5, Eps: 1e-6, Head: deit.HeadDistilled}
	m := &deit.Model{Config: c, Weights: deit.RandomWeights(c, 3)}
	const B = 3
	out, err := engine.RunReference(context.Background(), m, deit.RandomPixels(c, B, 3), B, deit.TapAttention)
	require.NoError(t, err)
	got, err := attentionTensor(c, out.Attention, B)
	require.NoError(t, err)
	require.Equal(t, outputAttention, got.name)
	require.Equal(t, []int64{B, 2, 4, 4}, got.shape)
	require.Len(t, got.data, B*2*16)
	for b := range B {
		maps, err := explain.Maps(explain.Rollout, out.Attention, b, c)
		require.NoError(t, err)
		for s, mp := range maps {
			for i, v := range mp.Values {
				require.Equal(t, float32(v), got.data[(b*2+s)*16+i])
			}
		}
	}
	_, err = attentionTensor(c, out.Attention, B+1)
	require.ErrorContains(t, err, "hold no image 3")
	require.True(t, (&request{outputs: []string{outputLogits, outputAttention}}).wantsAttention())
	require.False(t, (&request{outputs: []string{outputLogits}}).wantsAttention())
}
