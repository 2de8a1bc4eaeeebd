package imageio

import (
	"math"

	"github.com/vkdeit/vkdeit/internal/par"
)

// PIL resampling filter codes, as stored in preprocessor_config.json's "resample" key
// (PIL.Image.Resampling values).
const (
	ResampleNearest  = 0
	ResampleLanczos  = 1
	ResampleBilinear = 2
	ResampleBicubic  = 3
	ResampleBox      = 4
	ResampleHamming  = 5
)

// precisionBits is the fixed-point precision of PIL's 8-bit resampling weights
// (Resample.c: PRECISION_BITS = 32 - 8 - 2).
const precisionBits = 32 - 8 - 2

// resampleFilter is one of PIL's separable convolution filters: the kernel and its
// support radius at scale 1.
type resampleFilter struct {
	support float64
	kernel  func(x float64) float64
}

func bicubicKernel(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	// The float64 conversions round every product, as C without FMA does; Go
	// may otherwise fuse a multiply and an add on some architectures.
	if x < 1 {
		t := float64((a + 2) * x)
		t = float64((t - (a + 3)) * x)
		t = float64(t * x)
		return t + 1
	}
	if x < 2 {
		t := float64((x - 5) * x)
		t = float64((t + 8) * x)
		return (t - 4) * a
	}
	return 0
}

func bilinearKernel(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func boxKernel(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func hammingKernel(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x *= math.Pi
	return math.Sin(x) / x * (0.54 + float64(0.46*math.Cos(x)))
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func lanczosKernel(x float64) float64 {
	if x >= -3 && x < 3 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}

// filterFor returns PIL's convolution filter for a resample code; ok is false for
// NEAREST and unknown codes.
func filterFor(resample int) (resampleFilter, bool) {
	switch resample {
	case ResampleBicubic:
		return resampleFilter{2, bicubicKernel}, true
	case ResampleBilinear:
		return resampleFilter{1, bilinearKernel}, true
	case ResampleBox:
		return resampleFilter{0.5, boxKernel}, true
	case ResampleHamming:
		return resampleFilter{1, hammingKernel}, true
	case ResampleLanczos:
		return resampleFilter{3, lanczosKernel}, true
	}
	return resampleFilter{}, false
}

// axisCoeffs holds PIL's fixed-point weights for one axis: output index i reads
// n[i] input samples starting at min[i] with weights k[i*ksize : i*ksize+n[i]].
type axisCoeffs struct {
	ksize int
	min   []int
	n     []int
	k     []int32
}

// precomputeCoeffs mirrors precompute_coeffs + normalize_coeffs_8bpc in Pillow's
// Resample.c for the full input range [0, inSize): double-precision weights,
// normalized by their sum, then rounded half away from zero to 22-bit fixed point
// (the integer weights are not renormalized).
func precomputeCoeffs(inSize, outSize int, f resampleFilter) axisCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := f.support * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := axisCoeffs{
		ksize: ksize,
		min:   make([]int, outSize),
		n:     make([]int, outSize),
		k:     make([]int32, outSize*ksize),
	}
	w := make([]float64, ksize)
	ss := 1 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		// C casts truncate toward zero; center+0.5-support may be negative.
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		n := xmax - xmin
		ww := 0.0
		for x := 0; x < n; x++ {
			v := f.kernel(float64((float64(x+xmin) - center + 0.5) * ss))
			w[x] = v
			ww += v
		}
		kk := c.k[xx*ksize : xx*ksize+ksize]
		for x := 0; x < n; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[x] = int32(v*(1<<precisionBits) - 0.5)
			} else {
				kk[x] = int32(v*(1<<precisionBits) + 0.5)
			}
		}
		c.min[xx] = xmin
		c.n[xx] = n
	}
	return c
}

// clip8 turns a fixed-point accumulator into a byte: floor(acc / 2^22) clamped
// to [0, 255], as Pillow's clip8 does.
func clip8(acc int32) uint8 {
	v := acc >> precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ResizeBicubic resizes img to w×h with PIL's Image.resize(..., BICUBIC)
// arithmetic (a = −0.5, antialiased when shrinking, 22-bit fixed point, horizontal
// pass first, uint8 between the passes), bit for bit. It is the resize of HF's
// DeiT image processor. The result is a new image, or a copy when the size is
// unchanged; sizes below 1 are treated as 1.
func ResizeBicubic(img *Image, w, h int) *Image {
	return resizeFilter(img, w, h, resampleFilter{2, bicubicKernel})
}

// ResizeBilinear resizes img to w×h with PIL's Image.resize(..., BILINEAR)
// arithmetic (triangle filter, antialiased when shrinking), bit for bit; the
// ViT-layout DeiT checkpoints ask for it.
func ResizeBilinear(img *Image, w, h int) *Image {
	return resizeFilter(img, w, h, resampleFilter{1, bilinearKernel})
}

// Resize resizes img with a PIL resample code (0 nearest, 1 lanczos, 2 bilinear,
// 3 bicubic, 4 box, 5 hamming), matching PIL's Image.resize bit for bit.
// An unknown code falls back to bicubic.
func Resize(img *Image, w, h, resample int) *Image {
	if resample == ResampleNearest {
		return resizeNearest(img, w, h)
	}
	f, ok := filterFor(resample)
	if !ok {
		f, _ = filterFor(ResampleBicubic)
	}
	return resizeFilter(img, w, h, f)
}

func resizeFilter(img *Image, w, h int, f resampleFilter) *Image {
	w, h = max(w, 1), max(h, 1)
	if img.W == w && img.H == h {
		return img.clone()
	}
	vert := precomputeCoeffs(img.H, h, f)
	src := img
	if img.W != w {
		// Only the source rows the vertical pass reads are resampled.
		first, last := 0, img.H
		if img.H != h {
			first = vert.min[0]
			last = vert.min[h-1] + vert.n[h-1]
		}
		horiz := precomputeCoeffs(img.W, w, f)
		src = horizontalPass(img, first, last, horiz)
		if img.H != h {
			for i := range vert.min {
				vert.min[i] -= first
			}
		}
	}
	if img.H == h {
		return src
	}
	return verticalPass(src, vert, h)
}

// horizontalPass resamples rows [first, last) of img to width len(c.min).
func horizontalPass(img *Image, first, last int, c axisCoeffs) *Image {
	outW := len(c.min)
	out := &Image{W: outW, H: last - first, Pix: make([]uint8, outW*(last-first)*3)}
	parallelRows(out.H, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			in := img.Pix[(y+first)*img.W*3 : (y+first+1)*img.W*3]
			o := out.Pix[y*outW*3 : (y+1)*outW*3]
			for xx := 0; xx < outW; xx++ {
				xmin, n := c.min[xx], c.n[xx]
				k := c.k[xx*c.ksize : xx*c.ksize+n]
				s := in[xmin*3 : (xmin+n)*3]
				r, g, b := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
				for x, kx := range k {
					p := s[x*3 : x*3+3 : x*3+3]
					r += int32(p[0]) * kx
					g += int32(p[1]) * kx
					b += int32(p[2]) * kx
				}
				o[xx*3] = clip8(r)
				o[xx*3+1] = clip8(g)
				o[xx*3+2] = clip8(b)
			}
		}
	})
	return out
}

// verticalPass resamples img to height outH; c.min is relative to img's rows.
func verticalPass(img *Image, c axisCoeffs, outH int) *Image {
	stride := img.W * 3
	out := &Image{W: img.W, H: outH, Pix: make([]uint8, stride*outH)}
	parallelRows(outH, func(y0, y1 int) {
		acc := make([]int32, stride)
		for yy := y0; yy < y1; yy++ {
			ymin, n := c.min[yy], c.n[yy]
			k := c.k[yy*c.ksize : yy*c.ksize+n]
			for i := range acc {
				acc[i] = 1 << (precisionBits - 1)
			}
			for y, ky := range k {
				row := img.Pix[(ymin+y)*stride : (ymin+y+1)*stride]
				for i, p := range row {
					acc[i] += int32(p) * ky
				}
			}
			o := out.Pix[yy*stride : (yy+1)*stride]
			for i, a := range acc {
				o[i] = clip8(a)
			}
		}
	})
	return out
}

// resizeNearest mirrors Pillow's ImagingScaleAffine for a full-image box: each
// output pixel copies the input pixel under its centre, with the coordinates
// accumulated by repeated addition as in Geometry.c.
func resizeNearest(img *Image, w, h int) *Image {
	w, h = max(w, 1), max(h, 1)
	if img.W == w && img.H == h {
		return img.clone()
	}
	coords := func(inSize, outSize int) []int {
		scale := float64(inSize) / float64(outSize)
		t := make([]int, outSize)
		o := scale * 0.5
		for i := range t {
			v := int(o)
			if o < 0 {
				v = -1
			}
			t[i] = min(max(v, 0), inSize-1)
			o += scale
		}
		return t
	}
	xs, ys := coords(img.W, w), coords(img.H, h)
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	for y, sy := range ys {
		in := img.Pix[sy*img.W*3:]
		o := out.Pix[y*w*3:]
		for x, sx := range xs {
			copy(o[x*3:x*3+3], in[sx*3:sx*3+3])
		}
	}
	return out
}

// parallelRows runs fn over [0, n) split into contiguous row ranges on the
// available CPUs; images of a few rows are not worth the goroutines.
func parallelRows(n int, fn func(y0, y1 int)) { par.RowsAtLeast(n, 16, fn) }
