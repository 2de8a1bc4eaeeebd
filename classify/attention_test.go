package classify

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/explain"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// TestClassifierAttention: Options.Attention returns each image's maps, the
// ones explain.Maps makes of the reference's attention tap, beside the
// same ranking as without it.
func TestClassifierAttention(t *testing.T) {
	m := tinyModel(t)
	c, err := New(m, newReference(t, m, 2))
	require.NoError(t, err)
	defer c.Close()
	path := fixture.Path("grace_hopper_96x112.png")
	inputs := []Input{{Path: path}, {Name: "again", Path: path}, {Name: "missing", Path: "missing.png"}}
	plain, err := c.Classify(context.Background(), inputs, Options{TopK: 3})
	require.NoError(t, err)
	pixels, err := Prepare(context.Background(), m, Input{Path: path}, imageio.DecodeOptions{})
	require.NoError(t, err)
	want, err := engine.RunReference(context.Background(), m, pixels, 1, deit.TapAttention)
	require.NoError(t, err)
	for _, method := range []explain.Method{explain.Rollout, explain.Last, "LAST"} {
		res, err := c.Classify(context.Background(), inputs, Options{TopK: 3, Attention: method})
		require.NoError(t, err)
		parsed, err := explain.ParseMethod(string(method))
		require.NoError(t, err)
		wantMaps, err := explain.Maps(parsed, want.Attention, 0, m.Config)
		require.NoError(t, err)
		for i, r := range res[:2] {
			require.NoError(t, r.Err)
			require.Equal(t, plain[i].Top, r.Top, "the ranking does not change")
			require.Equal(t, wantMaps, r.Attention)
		}
		require.Error(t, res[2].Err)
		require.Nil(t, res[2].Attention)
	}
	require.Len(t, plain[0].Attention, 0, "no maps unless asked for")
	_, err = c.Classify(context.Background(), inputs, Options{Attention: "gradcam"})
	require.ErrorContains(t, err, `classify: unknown attention-map method "gradcam"`)
}
