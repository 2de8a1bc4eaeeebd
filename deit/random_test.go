package deit

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func meanStd(x []float32) (mean, std float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

func TestRandomWeights(t *testing.T) {
	cfg := testConfig(HeadDistilled)
	a, b := RandomWeights(cfg, 42), RandomWeights(cfg, 42)
	require.Equal(t, a, b, "same seed, same weights")
	require.NotEqual(t, a.Layers[0].QW, RandomWeights(cfg, 43).Layers[0].QW, "other seed, other weights")
	require.NoError(t, a.check(cfg))
	require.Nil(t, RandomWeights(testConfig(HeadClassifier), 1).DistW)
	require.Nil(t, RandomWeights(Config{}, 1), "invalid config")

	small, err := Preset("small")
	require.NoError(t, err)
	w := RandomWeights(small, 3)
	require.NoError(t, w.check(small))
	for _, tc := range []struct {
		name      string
		x         []float32
		mean, std float64
	}{
		{"FC1W", w.Layers[5].FC1W, 0, 0.02},
		{"PatchW", w.PatchW, 0, 0.02},
		{"Pos", w.Pos, 0, 0.02},
		{"FC1B", w.Layers[5].FC1B, 0, 0.01},
		{"LN2G", w.Layers[11].LN2G, 1, 0.02},
	} {
		m, s := meanStd(tc.x)
		// Truncation at 2σ shrinks the std by 12%.
		require.InDelta(t, tc.mean, m, 0.2*tc.std, tc.name)
		require.InDelta(t, tc.std*0.88, s, 0.1*tc.std, tc.name)
		for _, v := range tc.x {
			require.LessOrEqual(t, math.Abs(float64(v)-tc.mean), 2*tc.std+1e-7, tc.name)
		}
	}
}
