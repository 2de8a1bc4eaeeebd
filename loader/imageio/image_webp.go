package imageio

import "image"

// vp8Clip8 is libwebp's VP8Clip8: a value with 6 fractional bits to a byte.
func vp8Clip8(v int32) uint8 {
	const mask = (256 << 6) - 1
	if v&^mask == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// vp8ToRGB is libwebp's VP8YuvToRgb (dsp/yuv.h): BT.601 limited-range YUV in
// 14-bit fixed point.
func vp8ToRGB(y, u, v uint8) (uint8, uint8, uint8) {
	mh := func(a uint8, c int32) int32 { return (int32(a) * c) >> 8 }
	yy := mh(y, 19077)
	return vp8Clip8(yy + mh(v, 26149) - 14234),
		vp8Clip8(yy - mh(u, 6419) - mh(v, 13320) + 8708),
		vp8Clip8(yy + mh(u, 33050) - 17685)
}

// webpUpsampleRow is one output row of libwebp's fancy upsampler
// (dsp/upsampling.c, UPSAMPLE_FUNC) for one chroma plane: near is the chroma row
// closest to the output row, far the other one, and top says whether the output
// row is the upper of its pair (the two roles weight the diagonals differently).
func webpUpsampleRow(near, far []uint8, top bool, dst []uint8) {
	n := len(dst)
	// In libwebp terms: tl/t come from the "top" chroma row, l/cur from the
	// "current" one; for an upper output row near is top.
	topRow, curRow := near, far
	if !top {
		topRow, curRow = far, near
	}
	tl, l := int32(topRow[0]), int32(curRow[0])
	edge := func(tl, l int32) uint8 {
		if top {
			return uint8((3*tl + l + 2) >> 2)
		}
		return uint8((3*l + tl + 2) >> 2)
	}
	dst[0] = edge(tl, l)
	last := (n - 1) >> 1
	for x := 1; x <= last; x++ {
		t, c := int32(topRow[x]), int32(curRow[x])
		avg := tl + t + l + c + 8
		d12 := (avg + 2*(t+l)) >> 3
		d03 := (avg + 2*(tl+c)) >> 3
		if top {
			dst[2*x-1] = uint8((d12 + tl) >> 1)
			dst[2*x] = uint8((d03 + t) >> 1)
		} else {
			dst[2*x-1] = uint8((d03 + l) >> 1)
			dst[2*x] = uint8((d12 + c) >> 1)
		}
		tl, l = t, c
	}
	if n&1 == 0 {
		dst[n-1] = edge(tl, l)
	}
}

// webpToRGB converts a decoded lossy WebP to RGB as libwebp does for Pillow:
// fancy upsampling, then VP8YuvToRgb. VP8 decoding itself is bit-exact by
// specification, and its chroma is always 4:2:0 (x/image/webp returns no
// other ratio).
func webpToRGB(m *image.YCbCr, out *Image) {
	w, h := out.W, out.H
	ch := (h + 1) / 2
	cw := (w + 1) / 2
	row := func(plane []uint8, y int) []uint8 {
		y = min(max(y, 0), ch-1)
		return plane[y*m.CStride : y*m.CStride+cw]
	}
	parallelRows(h, func(y0, y1 int) {
		u := make([]uint8, w)
		v := make([]uint8, w)
		for y := y0; y < y1; y++ {
			// Output row y pairs with chroma rows (y-1)/2 (above) and (y+1)/2.
			top := y%2 == 1 || y == 0
			var near, far int
			if top {
				near, far = (y-1)/2, (y+1)/2
				if y == 0 {
					near, far = 0, 0
				}
			} else {
				near, far = y/2, y/2-1
			}
			webpUpsampleRow(row(m.Cb, near), row(m.Cb, far), top, u)
			webpUpsampleRow(row(m.Cr, near), row(m.Cr, far), top, v)
			yrow := m.Y[y*m.YStride : y*m.YStride+w]
			o := out.Pix[y*w*3 : (y+1)*w*3]
			for x, yv := range yrow {
				o[3*x], o[3*x+1], o[3*x+2] = vp8ToRGB(yv, u[x], v[x])
			}
		}
	})
}
