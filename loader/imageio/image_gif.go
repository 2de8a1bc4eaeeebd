package imageio

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
)

// gifInfo is what decodeGIF needs from a GIF's headers that image/gif hides:
// the logical screen, and the first frame's colour table (image/gif blanks the
// transparent entry) and transparent index.
type gifInfo struct {
	w, h        int
	palette     []byte // 3 bytes per entry
	transparent int    // -1 when none
}

// parseGIFInfo walks the GIF blocks up to the first image descriptor.
func parseGIFInfo(data []byte) (gifInfo, error) {
	bad := fmt.Errorf("%w: truncated GIF data", ErrCorruptImage)
	if len(data) < 13 {
		return gifInfo{}, bad
	}
	g := gifInfo{w: int(data[6]) | int(data[7])<<8, h: int(data[8]) | int(data[9])<<8, transparent: -1}
	p := 13
	if data[10]&0x80 != 0 {
		n := 3 << (int(data[10]&7) + 1)
		if len(data) < p+n {
			return g, bad
		}
		g.palette = data[p : p+n]
		p += n
	}
	for p < len(data) {
		switch data[p] {
		case 0x21: // extension: label, then sub-blocks
			if p+2 > len(data) {
				return g, bad
			}
			label := data[p+1]
			p += 2
			for {
				if p >= len(data) {
					return g, bad
				}
				n := int(data[p])
				if p+1+n > len(data) {
					return g, bad
				}
				if label == 0xF9 && n >= 4 {
					if data[p+1]&1 != 0 {
						g.transparent = int(data[p+4])
					} else {
						g.transparent = -1
					}
				}
				p += 1 + n
				if n == 0 {
					break
				}
			}
		case 0x2C: // image descriptor
			if p+10 > len(data) {
				return g, bad
			}
			if flags := data[p+9]; flags&0x80 != 0 {
				n := 3 << (int(flags&7) + 1)
				if p+10+n > len(data) {
					return g, bad
				}
				g.palette = data[p+10 : p+10+n]
			}
			return g, nil
		default:
			return g, fmt.Errorf("%w: invalid GIF block 0x%02x", ErrCorruptImage, data[p])
		}
	}
	return g, bad
}

// decodeGIF decodes the first frame the way Pillow shows it: a logical-screen
// sized palette image, pixels outside the frame set to the transparent index
// (or 0), colours looked up in the frame's palette including the transparent
// entry's colour.
func decodeGIF(data []byte) (*Image, error) {
	info, err := parseGIFInfo(data)
	if err != nil {
		return nil, err
	}
	m, err := gif.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	pm, ok := m.(*image.Paletted)
	if !ok {
		return nil, fmt.Errorf("%w: GIF frame is not paletted", ErrCorruptImage)
	}
	var pal [256][3]uint8
	for i := 0; i < 256 && 3*i+2 < len(info.palette); i++ {
		pal[i] = [3]uint8{info.palette[3*i], info.palette[3*i+1], info.palette[3*i+2]}
	}
	fill := uint8(0)
	if info.transparent >= 0 {
		fill = uint8(info.transparent)
	}
	out := &Image{W: info.w, H: info.h, Pix: make([]uint8, info.w*info.h*3)}
	r := pm.Rect.Intersect(image.Rect(0, 0, info.w, info.h))
	for y := 0; y < info.h; y++ {
		for x := 0; x < info.w; x++ {
			idx := fill
			if (image.Point{x, y}).In(r) {
				idx = pm.Pix[pm.PixOffset(x, y)]
			}
			c := pal[idx]
			i := (y*info.w + x) * 3
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = c[0], c[1], c[2]
		}
	}
	return out, nil
}
