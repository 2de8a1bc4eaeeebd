package imageio

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The coefficient vectors of docs/preprocessing.md, from a reimplementation that
// matched Pillow 9.4.0 byte for byte.
func TestResizeBicubicCoefficients(t *testing.T) {
	cases := []struct {
		in, out, idx int
		xmin         int
		k            []int32
		ksize        int
	}{
		{640, 256, 0, 0, []int32{1475606, 1766927, 1017815, 123947, -132995, -56998}, 11},
		{640, 256, 1, 0, []int32{-121778, 113494, 931976, 1617909, 1351157, 479657, -67102, -103553, -7456}, 11},
		{640, 256, 255, 634, []int32{-56998, -132995, 123947, 1017815, 1766927, 1475606}, 11},
		{480, 256, 0, 0, []int32{2113353, 1951922, 315813, -176013, -10771}, 9},
		{480, 256, 128, 237, []int32{-25908, -164524, 462234, 1976402, 1825433, 295347, -164607, -10073}, 9},
		{100, 256, 0, 0, []int32{4613638, -419334}, 5},
		{100, 256, 128, 48, []int32{-135369, 1239771, 3398821, -308919}, 5},
	}
	f, ok := filterFor(ResampleBicubic)
	require.True(t, ok)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d->%d[%d]", c.in, c.out, c.idx), func(t *testing.T) {
			co := precomputeCoeffs(c.in, c.out, f)
			require.Equal(t, c.ksize, co.ksize)
			require.Equal(t, c.xmin, co.min[c.idx])
			require.Equal(t, len(c.k), co.n[c.idx])
			require.Equal(t, c.k, co.k[c.idx*co.ksize:c.idx*co.ksize+co.n[c.idx]])
		})
	}
	// The integer weights are not renormalized: 640→256 out[0] sums to 2^22 − 2.
	co := precomputeCoeffs(640, 256, f)
	var sum int32
	for _, k := range co.k[:co.n[0]] {
		sum += k
	}
	require.Equal(t, int32(4194302), sum)
}

func TestResizeBilinearCoefficients(t *testing.T) {
	f, _ := filterFor(ResampleBilinear)
	// Upsampling 2→4: centres at 0.25, 0.75, 1.25, 1.75 input pixels; the
	// window is [(int)(c−1+0.5), (int)(c+1+0.5)) clamped, so the edge outputs
	// get one tap.
	co := precomputeCoeffs(2, 4, f)
	require.Equal(t, 3, co.ksize)
	require.Equal(t, []int{0, 0, 0, 1}, co.min)
	require.Equal(t, []int{1, 2, 2, 1}, co.n)
	require.Equal(t, []int32{1 << 22}, co.k[0:1])
	require.Equal(t, []int32{3 << 20, 1 << 20}, co.k[3:5])
	require.Equal(t, []int32{1 << 20, 3 << 20}, co.k[6:8])
	require.Equal(t, []int32{1 << 22}, co.k[9:10])
	// Shrinking 4→2 widens the triangle to support 2 (antialiasing); C's
	// truncating cast makes (int)(1−2+0.5) = 0. Weights .75, .75, .25 / 1.75.
	co = precomputeCoeffs(4, 2, f)
	require.Equal(t, 5, co.ksize)
	require.Equal(t, []int{0, 1}, co.min)
	require.Equal(t, []int{3, 3}, co.n)
	require.Equal(t, []int32{1797559, 1797559, 599186}, co.k[0:3])
	require.Equal(t, []int32{599186, 1797559, 1797559}, co.k[5:8])
}

func TestResizeSameSizeIsCopy(t *testing.T) {
	img := formulaImage(7, 5)
	for _, fn := range []func(*Image, int, int) *Image{ResizeBicubic, ResizeBilinear} {
		out := fn(img, 7, 5)
		require.Equal(t, img, out)
		out.Pix[0]++
		require.NotEqual(t, img.Pix[0], out.Pix[0], "result must not alias the input")
	}
}

func TestResizeConstantImageStaysConstant(t *testing.T) {
	img := &Image{W: 37, H: 23, Pix: make([]uint8, 37*23*3)}
	for i := range img.Pix {
		img.Pix[i] = []uint8{200, 17, 99}[i%3]
	}
	for _, sz := range [][2]int{{256, 256}, {5, 3}, {37, 100}, {1, 1}} {
		for _, fn := range []func(*Image, int, int) *Image{ResizeBicubic, ResizeBilinear} {
			out := fn(img, sz[0], sz[1])
			require.Equal(t, sz[0], out.W)
			require.Equal(t, sz[1], out.H)
			for i, v := range out.Pix {
				// Unnormalized 22-bit weights may lose one unit: 4194302/4194304·200.
				want := int([]uint8{200, 17, 99}[i%3])
				require.InDelta(t, want, int(v), 1, "size %v byte %d", sz, i)
			}
		}
	}
}

// One pass only: a width-only resize leaves each row's vertical profile alone,
// and equals resizing each row on its own.
func TestResizeSkipsUnchangedAxis(t *testing.T) {
	img := formulaImage(50, 9)
	out := ResizeBicubic(img, 20, 9)
	for y := 0; y < 9; y++ {
		row := &Image{W: 50, H: 1, Pix: img.Pix[y*150 : (y+1)*150]}
		r := ResizeBicubic(row, 20, 1)
		require.Equal(t, r.Pix, out.Pix[y*60:(y+1)*60])
	}
}

func TestResizeParallelMatchesSerial(t *testing.T) {
	img := formulaImage(333, 222)
	a := ResizeBicubic(img, 438, 438)
	// A single-row-range run of the same passes.
	f, _ := filterFor(ResampleBicubic)
	vert := precomputeCoeffs(img.H, 438, f)
	horiz := precomputeCoeffs(img.W, 438, f)
	first, last := vert.min[0], vert.min[437]+vert.n[437]
	for i := range vert.min {
		vert.min[i] -= first
	}
	mid := &Image{W: 438, H: last - first, Pix: make([]uint8, 438*(last-first)*3)}
	tmp := horizontalPass(img, first, last, horiz)
	copy(mid.Pix, tmp.Pix)
	b := verticalPass(mid, vert, 438)
	require.Equal(t, a.Pix, b.Pix)
}

func TestResizeUnknownFilterFallsBackToBicubic(t *testing.T) {
	img := formulaImage(40, 30)
	require.Equal(t, ResizeBicubic(img, 17, 11), Resize(img, 17, 11, 42))
	require.Equal(t, ResizeBilinear(img, 17, 11), Resize(img, 17, 11, ResampleBilinear))
}

func BenchmarkResizeBicubic4000x3000(b *testing.B) {
	img := formulaImage(4000, 3000)
	b.ResetTimer()
	for b.Loop() {
		ResizeBicubic(img, 256, 256)
	}
}
