package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestPatchify(t *testing.T) {
	for _, c := range [][5]int{{1, 1, 1, 1, 1}, {1, 3, 7, 5, 2}, {2, 3, 32, 48, 16}, {1, 3, 224, 224, 16}, {3, 2, 17, 19, 4}} {
		B, C, H, W, P := c[0], c[1], c[2], c[3], c[4]
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(H), 7))
			px := make([]float32, B*C*H*W)
			for i := range px {
				px[i] = r.Float32()
			}
			want := ref.Patchify(px, B, C, H, W, P)
			out := make([]float32, len(want))
			for i := range out {
				out[i] = float32(math.NaN())
			}
			require.NoError(t, Patchify(out, px, B, C, H, W, P))
			require.Equal(t, want, out)
		})
	}
	require.ErrorContains(t, Patchify(make([]float32, 4), make([]float32, 16), 1, 1, 4, 4, 5), "out of range")
	require.ErrorContains(t, Patchify(make([]float32, 3), make([]float32, 16), 1, 1, 4, 4, 2), "want 16 and 16")
}
