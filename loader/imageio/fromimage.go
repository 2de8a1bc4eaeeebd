package imageio

import (
	"fmt"
	"image"
)

// FromImage converts an image.Image that a program already holds (decoded
// by itself, drawn, cropped) into the packed RGB Image the preprocessor
// takes, as PIL's convert("RGB") converts the same pixels: gray is
// replicated, alpha is dropped (straight, not composited; premultiplied
// image.RGBA values are un-premultiplied first), CMYK uses PIL's formula.
// No EXIF orientation is applied: the pixels are taken as they are. Images
// with more than DefaultMaxPixels pixels are refused.
func FromImage(m image.Image) (*Image, error) {
	if m == nil {
		return nil, fmt.Errorf("imageio: nil image")
	}
	b := m.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("imageio: empty image (%d×%d)", b.Dx(), b.Dy())
	}
	if int64(b.Dx())*int64(b.Dy()) > DefaultMaxPixels {
		return nil, fmt.Errorf("imageio: %d×%d image exceeds the %d-pixel limit: %w", b.Dx(), b.Dy(), DefaultMaxPixels, ErrTooLarge)
	}
	switch rgba := m.(type) {
	case *image.RGBA:
		if !rgba.Opaque() {
			m = genericImage{m} // un-premultiply through color.NRGBAModel
		}
	case *image.RGBA64:
		if !rgba.Opaque() {
			m = genericImage{m}
		}
	}
	return toRGB("", m, nil), nil
}

// genericImage hides an image's concrete type so that toRGB converts it
// pixel by pixel through color.NRGBAModel.
type genericImage struct{ image.Image }
