package hub

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProgressReports(t *testing.T) {
	var calls [][2]int64
	p := newProgress(func(file string, have, total int64) {
		require.Equal(t, "model.safetensors", file)
		calls = append(calls, [2]int64{have, total})
	}, "model.safetensors", 100)
	p.set(40) // resumed
	n, err := p.Write(make([]byte, 25))
	require.NoError(t, err)
	require.Equal(t, 25, n)
	require.Equal(t, [][2]int64{{40, 100}, {65, 100}}, calls)

	var none *progress // no callback
	none.set(3)
	n, err = none.Write(make([]byte, 7))
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Nil(t, newProgress(nil, "x", 1))
}
