package gpu_test

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
)

func TestWriteRead(t *testing.T) {
	for _, mode := range []string{"unified", "staging"} {
		t.Run(mode, func(t *testing.T) {
			opts := gpu.Options{}
			if mode == "staging" {
				opts = gpu.Staging(opts)
			}
			d := gputest.OpenOptions(t, opts)
			tests := []struct {
				name   string
				size   int64 // buffer bytes
				offset int64 // bytes
				n      int   // floats
			}{
				{"one float", 4, 0, 1},
				{"odd size", 4 * 7, 0, 7},
				{"odd buffer, partial", 4*1001 + 3, 4 * 3, 997},
				{"unaligned offset", 4 * 200, 2, 150},
				{"tail", 4 * 198, 4 * 197, 1},
				{"larger than a staging chunk", 4 * 3_000_005, 4 * 5, 3_000_000},
				{"larger than a block", 40 << 20, 0, 10 << 20},
			}
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					b, err := d.NewBuffer(tc.size)
					require.NoError(t, err)
					require.Equal(t, tc.size, b.Size())
					if m := b.Mapped(); m != nil {
						require.Len(t, m, int(tc.size))
					}
					want := rtRandom(t, int64(10+i), tc.n)
					require.NoError(t, d.Write(b, tc.offset, want))
					got := rtNaNs(tc.n)
					require.NoError(t, d.Read(b, tc.offset, got))
					require.Equal(t, want, got)
				})
			}
		})
	}
}

func TestBuffersDoNotOverlap(t *testing.T) {
	d := gputest.Open(t)
	var bufs []*gpu.Buffer
	var want [][]float32
	for i, n := range []int{1, 3, 17, 1000, 64, 5} {
		b, err := d.NewBuffer(int64(4 * n))
		require.NoError(t, err)
		v := rtRandom(t, int64(20+i), n)
		require.NoError(t, d.Write(b, 0, v))
		bufs = append(bufs, b)
		want = append(want, v)
	}
	for i, b := range bufs {
		require.Equal(t, want[i], rtRead(t, d, b, len(want[i])), "buffer %d", i)
	}
}

func TestStagingBuffer(t *testing.T) {
	for _, opts := range []gpu.Options{{}, gpu.Staging(gpu.Options{})} {
		d := gputest.OpenOptions(t, opts)
		b, err := d.NewStagingBuffer(4 * 33)
		require.NoError(t, err)
		require.Len(t, b.Mapped(), 4*33)
		v := rtRandom(t, 30, 33)
		require.NoError(t, d.Write(b, 0, v))
		require.Equal(t, v, rtRead(t, d, b, 33))
	}
}

func TestMemoryErrors(t *testing.T) {
	d := gputest.Open(t)
	tests := []struct {
		name  string
		bytes int64
		oom   bool
	}{
		{"petabyte", 1 << 50, true},
		{"beyond int range", 1<<63 - 1, true},
		{"twice the heap", int64(2 * d.Info().DeviceLocalBytes), true},
		{"zero", 0, false},
		{"negative", -4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := d.NewBuffer(tc.bytes)
			require.Error(t, err)
			require.Nil(t, b)
			require.Equal(t, tc.oom, errors.Is(err, gpu.ErrOutOfMemory), "error: %v", err)
		})
	}
	b, err := d.NewBuffer(16)
	require.NoError(t, err)
	require.ErrorContains(t, d.Write(b, 8, make([]float32, 3)), "outside the 16-byte buffer")
	require.ErrorContains(t, d.Read(b, -4, make([]float32, 1)), "outside")
	require.ErrorContains(t, d.Write(b, math.MaxInt64-2, make([]float32, 1)), "outside", "offset+n overflows")
	require.NoError(t, d.Write(b, 0, nil))
	freed, err := d.NewBuffer(16)
	require.NoError(t, err)
	freed.Free()
	require.ErrorContains(t, d.Write(freed, 0, make([]float32, 1)), "freed")
	require.ErrorContains(t, d.Read(freed, 0, make([]float32, 1)), "freed")
	other := gputest.Open(t)
	require.ErrorContains(t, other.Write(b, 0, make([]float32, 1)), "another device")
}

// TestBufferFree: a block goes back to the driver once all of its buffers
// are freed, and not before; memory freed that way can be allocated again.
func TestBufferFree(t *testing.T) {
	d := gputest.Open(t)
	// Fill what the first block has left, so the next buffers need new blocks.
	fill, err := d.NewBuffer(64<<20 - 4096)
	require.NoError(t, err)
	before := d.Blocks()
	a, err := d.NewBuffer(80 << 20) // larger than a block: a dedicated one
	require.NoError(t, err)
	s1, err := d.NewBuffer(30 << 20) // s1 and s2 share one new block
	require.NoError(t, err)
	s2, err := d.NewBuffer(30 << 20)
	require.NoError(t, err)
	require.Equal(t, before+2, d.Blocks())
	a.Free()
	require.Equal(t, before+1, d.Blocks(), "dedicated block returned")
	a.Free() // idempotent
	require.Equal(t, before+1, d.Blocks())
	s1.Free()
	require.Equal(t, before+1, d.Blocks(), "block still holds s2")
	require.NoError(t, d.Write(s2, 0, []float32{1, 2, 3}))
	got := make([]float32, 3)
	require.NoError(t, d.Read(s2, 0, got))
	require.Equal(t, []float32{1, 2, 3}, got)
	s2.Free()
	require.Equal(t, before, d.Blocks())
	for i := 0; i < 4; i++ { // allocate and free repeatedly: no growth
		b, err := d.NewBuffer(80 << 20)
		require.NoError(t, err)
		b.Free()
	}
	require.Equal(t, before, d.Blocks())
	fill.Free()
}
