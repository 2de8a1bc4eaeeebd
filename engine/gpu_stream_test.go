package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

// TestGPUForwardStream streams five batches through the mapped path and
// the staging path (two slots overlapping upload and compute): every batch's
// logits must equal Forward's bit for bit and arrive in order; errors from
// next and emit end the stream, leaving the engine usable.
func TestGPUForwardStream(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 13)
	const B, n = 2, 5
	batches := make([][]float32, n)
	for i := range batches {
		batches[i] = deit.RandomPixels(c, B, int64(30+i))
	}
	for _, tc := range []struct {
		name string
		opts gpu.Options
	}{{"mapped", gpu.Options{}}, {"staging", gpu.Options{ForceStaging: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			dev := gputest.OpenOptions(t, tc.opts)
			e, err := NewGPU(dev, m, B, GPUOptions{})
			require.NoError(t, err)
			defer e.Close()
			ctx := context.Background()
			want := make([][]float32, n)
			for i, px := range batches {
				want[i], err = e.Forward(ctx, px, B)
				require.NoError(t, err)
			}
			feed := func(limit int, fail error) func() ([]float32, error) {
				i := 0
				return func() ([]float32, error) {
					if i == limit && fail != nil {
						return nil, fail
					}
					if i >= limit {
						return nil, nil
					}
					i++
					return batches[i-1], nil
				}
			}
			var got [][]float32
			collect := func(l []float32) error { got = append(got, l); return nil }
			require.NoError(t, e.ForwardStream(ctx, B, feed(n, nil), collect))
			require.Equal(t, want, got)

			got = nil
			require.NoError(t, e.ForwardStream(ctx, B, feed(0, nil), collect), "empty stream")
			require.Empty(t, got)

			boom := errors.New("no more images")
			got = nil
			require.ErrorIs(t, e.ForwardStream(ctx, B, feed(3, boom), collect), boom)
			require.Equal(t, want[:len(got)], got, "batches emitted before the error")

			full := errors.New("disk full")
			require.ErrorIs(t, e.ForwardStream(ctx, B, feed(n, nil), func([]float32) error { return full }), full)
			again, err := e.Forward(ctx, batches[4], B)
			require.NoError(t, err)
			require.Equal(t, want[4], again, "Forward after an interrupted stream")

			err = e.ForwardStream(ctx, B, func() ([]float32, error) { return make([]float32, 3), nil }, collect)
			require.ErrorContains(t, err, "got 3 pixel values")
			require.ErrorContains(t, e.ForwardStream(ctx, B+1, feed(n, nil), collect), "outside 1..2")
			require.NoError(t, e.Close())
			require.ErrorContains(t, e.ForwardStream(ctx, B, feed(n, nil), collect), "after Close")
		})
	}
}
