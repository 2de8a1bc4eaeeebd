package imageio

import (
	"image"
)

// libjpeg's YCbCr→RGB tables (jdcolor.c, build_ycc_rgb_table): 16-bit fixed
// point with FIX(x) = round(x·2^16).
const (
	yccScaleBits = 16
	yccOneHalf   = 1 << (yccScaleBits - 1)
	fix1_40200   = 91881  // FIX(1.40200)
	fix1_77200   = 116130 // FIX(1.77200)
	fix0_71414   = 46802  // FIX(0.71414)
	fix0_34414   = 22554  // FIX(0.34414)
)

// yccTables are libjpeg's per-chroma-value terms: R = Y + crR[cr],
// G = Y + (cbG[cb] + crG[cr]) >> 16, B = Y + cbB[cb].
type yccTables struct {
	crR, cbB, cbG, crG [256]int32
}

func newYCCTables() *yccTables {
	t := new(yccTables)
	for i := range 256 {
		x := int32(i) - 128
		t.crR[i] = (fix1_40200*x + yccOneHalf) >> yccScaleBits
		t.cbB[i] = (fix1_77200*x + yccOneHalf) >> yccScaleBits
		t.crG[i] = -fix0_71414 * x
		t.cbG[i] = -fix0_34414*x + yccOneHalf
	}
	return t
}

// yccToRGB is libjpeg's ycc_rgb_convert for one pixel.
func (t *yccTables) yccToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y)
	return clampByte(yy + t.crR[cr]),
		clampByte(yy + (t.cbG[cb]+t.crG[cr])>>yccScaleBits),
		clampByte(yy + t.cbB[cb])
}

func clampByte(v int32) uint8 {
	if uint32(v) <= 255 {
		return uint8(v)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// jpegYCbCrToRGB converts a decoded JPEG to RGB the way libjpeg(-turbo) does for
// Pillow: "fancy" (triangle) chroma upsampling for 2×1, 2×2 and 1×2 subsampling
// (jdsample.c, with the image's first and last chroma rows repeated as context),
// replication for other ratios, then the integer YCbCr→RGB tables. Only the IDCT
// rounding of Go's decoder differs from libjpeg's.
func jpegYCbCrToRGB(m *image.YCbCr, out *Image) {
	w, h := out.W, out.H
	var hf, vf int // chroma subsampling factors
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hf, vf = 1, 1
	case image.YCbCrSubsampleRatio422:
		hf, vf = 2, 1
	case image.YCbCrSubsampleRatio420:
		hf, vf = 2, 2
	case image.YCbCrSubsampleRatio440:
		hf, vf = 1, 2
	case image.YCbCrSubsampleRatio411:
		hf, vf = 4, 1
	case image.YCbCrSubsampleRatio410:
		hf, vf = 4, 2
	default:
		hf, vf = 1, 1
	}
	cw, ch := (w+hf-1)/hf, (h+vf-1)/vf
	fancyH := hf == 2 && cw > 2
	fancyV := vf == 2 && (hf == 1 || fancyH)
	cbRow := func(plane []uint8, y int) []uint8 {
		y = min(max(y, 0), ch-1) // context rows repeat the edge rows
		return plane[y*m.CStride : y*m.CStride+cw]
	}
	tab := newYCCTables()
	parallelRows(h, func(y0, y1 int) {
		cb := make([]uint8, cw*hf)
		cr := make([]uint8, cw*hf)
		col := make([]int32, cw)
		for y := y0; y < y1; y++ {
			cy := y / vf
			if fancyV {
				// 3/4 nearer row + 1/4 the other (above for even rows).
				other := cy - 1
				if y%2 == 1 {
					other = cy + 1
				}
				for p, plane := range [2][]uint8{m.Cb, m.Cr} {
					near, far := cbRow(plane, cy), cbRow(plane, other)
					dst := cb
					if p == 1 {
						dst = cr
					}
					if fancyH {
						for i := range col {
							col[i] = int32(near[i])*3 + int32(far[i])
						}
						h2v2Row(col, dst)
					} else {
						bias := int32(1)
						if y%2 == 1 {
							bias = 2
						}
						for i := range cw {
							dst[i] = uint8((int32(near[i])*3 + int32(far[i]) + bias) >> 2)
						}
					}
				}
			} else {
				for p, plane := range [2][]uint8{m.Cb, m.Cr} {
					src := cbRow(plane, cy)
					dst := cb
					if p == 1 {
						dst = cr
					}
					if fancyH {
						h2v1Row(src, dst)
					} else {
						for x := range cw * hf {
							dst[x] = src[x/hf]
						}
					}
				}
			}
			yrow := m.Y[y*m.YStride : y*m.YStride+w]
			o := out.Pix[y*w*3 : (y+1)*w*3]
			cbr, crr := cb[:w], cr[:w]
			for x, yv := range yrow {
				p := o[3*x : 3*x+3 : 3*x+3]
				p[0], p[1], p[2] = tab.yccToRGB(yv, cbr[x], crr[x])
			}
		}
	})
}

// h2v1Row is libjpeg's h2v1_fancy_upsample for one row (len(src) > 2).
func h2v1Row(src, dst []uint8) {
	n := len(src)
	dst[0] = src[0]
	dst[1] = uint8((int32(src[0])*3 + int32(src[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := int32(src[i]) * 3
		dst[2*i] = uint8((v + int32(src[i-1]) + 1) >> 2)
		dst[2*i+1] = uint8((v + int32(src[i+1]) + 2) >> 2)
	}
	v := int32(src[n-1])
	dst[2*n-2] = uint8((v*3 + int32(src[n-2]) + 1) >> 2)
	dst[2*n-1] = uint8(v)
}

// h2v2Row is the horizontal half of libjpeg's h2v2_fancy_upsample: col holds
// the vertical sums 3·near + far of one output row (len(col) > 2).
func h2v2Row(col []int32, dst []uint8) {
	n := len(col)
	dst[0] = uint8((col[0]*4 + 8) >> 4)
	dst[1] = uint8((col[0]*3 + col[1] + 7) >> 4)
	for i := 1; i < n-1; i++ {
		dst[2*i] = uint8((col[i]*3 + col[i-1] + 8) >> 4)
		dst[2*i+1] = uint8((col[i]*3 + col[i+1] + 7) >> 4)
	}
	dst[2*n-2] = uint8((col[n-1]*3 + col[n-2] + 8) >> 4)
	dst[2*n-1] = uint8((col[n-1]*4 + 7) >> 4)
}
