package imageio

import (
	"image"
	"image/color"
)

// toRGB converts a decoded image to packed RGB as PIL's convert("RGB") would.
func toRGB(format string, m image.Image, data []byte) *Image {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	o := out.Pix
	switch m := m.(type) {
	case *image.YCbCr:
		webpToRGB(m, out)
	case *image.NYCbCrA:
		webpToRGB(&m.YCbCr, out)
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				i := (y*w + x) * 3
				o[i], o[i+1], o[i+2] = v, v, v
			}
		}
	case *image.Gray16:
		// PIL opens 16-bit gray PNG/TIFF as an integer mode whose conversion
		// to RGB clips values above 255 (it does not scale).
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			for x := 0; x < w; x++ {
				v := int(row[2*x])<<8 | int(row[2*x+1])
				i := (y*w + x) * 3
				c := uint8(min(v, 255))
				o[i], o[i+1], o[i+2] = c, c, c
			}
		}
	case *image.RGBA:
		copy4to3(o, m.Pix, m.Stride, w, h, 1)
	case *image.NRGBA:
		copy4to3(o, m.Pix, m.Stride, w, h, 1)
	case *image.RGBA64:
		copy4to3(o, m.Pix, m.Stride, w, h, 2)
	case *image.NRGBA64:
		if format == "PNG" && pngIs16BitGray(data) {
			// 16-bit gray with a tRNS chunk: still PIL mode "I", clipped.
			for y := 0; y < h; y++ {
				row := m.Pix[y*m.Stride : y*m.Stride+8*w]
				for x := 0; x < w; x++ {
					c := uint8(min(int(row[8*x])<<8|int(row[8*x+1]), 255))
					i := (y*w + x) * 3
					o[i], o[i+1], o[i+2] = c, c, c
				}
			}
			break
		}
		copy4to3(o, m.Pix, m.Stride, w, h, 2)
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				r, g, bl := cmykToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
				i := (y*w + x) * 3
				o[i], o[i+1], o[i+2] = r, g, bl
			}
		}
	case *image.Paletted:
		pal := paletteRGB(m.Palette)
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, idx := range row {
				i := (y*w + x) * 3
				c := pal[idx]
				o[i], o[i+1], o[i+2] = c[0], c[1], c[2]
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				i := (y*w + x) * 3
				o[i], o[i+1], o[i+2] = c.R, c.G, c.B
			}
		}
	}
	return out
}

// copy4to3 copies the first three of four channels, taking the high byte of
// 16-bit samples (bps = 2), as PIL's ";16B" raw modes do.
func copy4to3(dst, src []uint8, stride, w, h, bps int) {
	for y := 0; y < h; y++ {
		row := src[y*stride : y*stride+4*bps*w]
		d := dst[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			d[3*x] = row[4*bps*x]
			d[3*x+1] = row[4*bps*x+bps]
			d[3*x+2] = row[4*bps*x+2*bps]
		}
	}
}

// muldiv255 is Pillow's MULDIV255: a·b/255 rounded, in integer arithmetic.
func muldiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

// cmykToRGB is Pillow's cmyk2rgb (Convert.c).
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - int(k)
	f := func(v uint8) uint8 { return uint8(min(max(nk-muldiv255(int(v), nk), 0), 255)) }
	return f(c), f(m), f(y)
}

// paletteRGB returns the colour bytes of every palette entry (256 entries,
// missing ones black) without premultiplying by alpha.
func paletteRGB(p color.Palette) [256][3]uint8 {
	var pal [256][3]uint8
	for i, c := range p {
		if i >= 256 {
			break
		}
		switch c := c.(type) {
		case color.NRGBA:
			pal[i] = [3]uint8{c.R, c.G, c.B}
		case color.RGBA:
			pal[i] = [3]uint8{c.R, c.G, c.B}
		default:
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
	}
	return pal
}

// pngIs16BitGray reports whether a PNG's IHDR says 16-bit grayscale.
func pngIs16BitGray(data []byte) bool {
	// signature (8) + length (4) + "IHDR" (4) + width (4) + height (4) + depth + colour type
	return len(data) >= 26 && string(data[12:16]) == "IHDR" && data[24] == 16 && data[25] == 0
}
