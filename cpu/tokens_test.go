package cpu

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestTokens(t *testing.T) {
	for _, c := range [][4]int{{1, 1, 1, 1}, {1, 5, 1, 3}, {2, 7, 2, 8}, {3, 198, 2, 384}} {
		B, T, S, D := c[0], c[1], c[2], c[3]
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			patches, special, pos := randSlice(1, B*(T-S)*D, -1, 1), randSlice(2, S*D, -1, 1), randSlice(3, T*D, -1, 1)
			want := ref.Tokens(patches, special, pos, B, T, S, D)
			out := poisoned(len(want))
			require.NoError(t, Tokens(out, patches, special, pos, B, T, S, D))
			require.Equal(t, want, out)
		})
	}
	require.ErrorContains(t, Tokens(make([]float32, 4), nil, nil, nil, 1, 2, 3, 2), "out of range")
	require.ErrorContains(t, Tokens(make([]float32, 3), make([]float32, 2), make([]float32, 2), make([]float32, 4), 1, 2, 1, 2), "want 4, 2, 2, 4")
}

func TestGatherRows(t *testing.T) {
	for _, c := range [][4]int{{1, 1, 1, 1}, {2, 5, 1, 3}, {3, 198, 2, 384}} {
		B, T, S, D := c[0], c[1], c[2], c[3]
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			in := randSlice(uint64(T), B*T*D, -1, 1)
			want := ref.GatherRows(in, B, T, S, D)
			out := poisoned(len(want))
			require.NoError(t, GatherRows(out, in, B, T, S, D))
			require.Equal(t, want, out)
		})
	}
	require.ErrorContains(t, GatherRows(make([]float32, 4), make([]float32, 4), 1, 2, 3, 2), "out of range")
	require.ErrorContains(t, GatherRows(make([]float32, 1), make([]float32, 4), 1, 2, 1, 2), "want 4 and 2")
}
