package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"os"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Image is an 8-bit RGB picture: W×H pixels, 3 bytes (R, G, B) per pixel, rows
// top to bottom without padding. It is what PIL's convert("RGB") holds, and the
// input of the resize and the preprocessor.
type Image struct {
	W, H int
	Pix  []uint8
}

// DecodeOptions controls Decode and Load.
type DecodeOptions struct {
	// NoEXIF leaves the pixels as stored: by default the EXIF orientation tag
	// is applied, as Hugging Face's load_image (ImageOps.exif_transpose) does.
	NoEXIF bool
}

// Errors returned (wrapped) by Decode and Load; test with errors.Is.
var (
	// ErrUnsupportedImage: the data is not an image format this package decodes
	// (JPEG, PNG, GIF, BMP, TIFF, WebP), or uses a feature of one it does not.
	ErrUnsupportedImage = errors.New("unsupported image format")
	// ErrCorruptImage: the data claims a known format but is empty, truncated
	// or malformed.
	ErrCorruptImage = errors.New("corrupt image")
)

// maxImagePixels is PIL's decompression-bomb limit (2 × Image.MAX_IMAGE_PIXELS):
// larger images are refused before their pixels are allocated.
const maxImagePixels = 2 * 89478485

// maxImageBytes bounds how much encoded data is read for one image: more than
// the largest uncompressed file within maxImagePixels (16-bit RGBA TIFF, 8
// bytes a pixel) plus headers, so that an endless stream (a pipe, /dev/zero)
// is refused instead of exhausting memory.
const maxImageBytes = 8*maxImagePixels + 64<<20

// clone returns a deep copy of img.
func (img *Image) clone() *Image {
	return &Image{W: img.W, H: img.H, Pix: append([]uint8(nil), img.Pix...)}
}

// Load reads and decodes the image file at path (see Decode). Errors
// name the file and the problem.
func Load(path string, opts DecodeOptions) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	data, err := readImageData(f, maxImageBytes)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: %w", path, err)
	}
	img, err := decodeBytes(data, opts, maxImagePixels)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: %w", path, err)
	}
	return img, nil
}

// Decode decodes a JPEG (baseline, progressive, CMYK/YCCK), PNG (1–16 bit,
// gray, gray+alpha, RGB, RGBA, palette), GIF (first frame), BMP, TIFF or WebP
// image and converts it to RGB the way PIL's convert("RGB") does: alpha is
// dropped (not composited), palettes are looked up, gray is copied to R, G and
// B, 16-bit colour keeps the high byte and 16-bit gray is clipped to 255 (PIL's
// mode "I"). The EXIF orientation is applied unless opts.NoEXIF. JPEG is
// decoded by libjpeg-turbo exactly as Pillow decodes it (image_jpeg.go), so
// the pixels are Pillow's bit for bit.
func Decode(r io.Reader, opts DecodeOptions) (*Image, error) {
	data, err := readImageData(r, maxImageBytes)
	if err != nil {
		return nil, fmt.Errorf("imageio: read image: %w", err)
	}
	img, err := decodeBytes(data, opts, maxImagePixels)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return img, nil
}

// readImageData reads all of r, refusing more than limit bytes.
func readImageData(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes of image data", ErrUnsupportedImage, limit)
	}
	return data, nil
}

// imageFormat names a container recognised by its magic bytes; "" when unknown.
func imageFormat(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return "JPEG"
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "PNG"
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return "GIF"
	case bytes.HasPrefix(data, []byte("BM")):
		return "BMP"
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return "TIFF"
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return "WebP"
	}
	return ""
}

// otherFormat names well-known image formats this package cannot decode, for a
// clearer error.
func otherFormat(data []byte) string {
	if len(data) >= 12 && string(data[4:8]) == "ftyp" {
		switch string(data[8:12]) {
		case "heic", "heix", "hevc", "mif1", "msf1":
			return "HEIC/HEIF"
		case "avif", "avis":
			return "AVIF"
		}
	}
	switch {
	case bytes.HasPrefix(data, []byte{0, 0, 0, 0x0C, 'J', 'X', 'L', ' '}), bytes.HasPrefix(data, []byte{0xFF, 0x0A}):
		return "JPEG XL"
	case bytes.HasPrefix(data, []byte{0, 0, 0, 0x0C, 'j', 'P', ' ', ' '}):
		return "JPEG 2000"
	case bytes.HasPrefix(data, []byte("%PDF")):
		return "PDF"
	case bytes.HasPrefix(data, []byte("8BPS")):
		return "Photoshop PSD"
	case bytes.HasPrefix(data, []byte{0, 0, 1, 0}):
		return "ICO"
	}
	return ""
}

// decodeBytes is Decode on a byte slice, refusing images with more than
// maxPixels pixels.
func decodeBytes(data []byte, opts DecodeOptions, maxPixels int) (*Image, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrCorruptImage)
	}
	format := imageFormat(data)
	if format == "" {
		if f := otherFormat(data); f != "" {
			return nil, fmt.Errorf("%w: %s images are not supported (convert to JPEG or PNG)", ErrUnsupportedImage, f)
		}
		return nil, fmt.Errorf("%w: not a JPEG, PNG, GIF, BMP, TIFF or WebP file", ErrUnsupportedImage)
	}
	cfg, err := decodeConfig(format, data)
	if err != nil {
		return nil, decodeError(format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s image has size %dx%d", ErrCorruptImage, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("%w: %s image of %dx%d pixels exceeds the limit of %d pixels", ErrUnsupportedImage, format, cfg.Width, cfg.Height, maxPixels)
	}
	var img *Image
	switch format {
	case "JPEG":
		img, err = decodeJPEG(data)
	case "GIF":
		img, err = decodeGIF(data)
	default:
		var m image.Image
		m, err = decodeStd(format, data)
		if err == nil {
			img, err = toRGB(format, m, data)
		}
	}
	if err != nil {
		return nil, decodeError(format, err)
	}
	if !opts.NoEXIF {
		if o := exifOrientation(format, data); o > 1 {
			img = orient(img, o)
		}
	}
	return img, nil
}

// codecs are the standard decoders by format name (JPEG is decoded by
// libjpeg, decodeJPEG, and GIF has its own first-frame path, decodeGIF).
var codecs = map[string]struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}{
	"PNG":  {png.DecodeConfig, png.Decode},
	"GIF":  {gif.DecodeConfig, gif.Decode},
	"BMP":  {bmp.DecodeConfig, bmp.Decode},
	"TIFF": {tiff.DecodeConfig, tiff.Decode},
	"WebP": {webp.DecodeConfig, webp.Decode},
}

func decodeConfig(format string, data []byte) (image.Config, error) {
	if format == "JPEG" {
		h, err := readJPEGHeader(data)
		return image.Config{Width: h.w, Height: h.h}, err
	}
	return codecs[format].config(bytes.NewReader(data))
}

func decodeStd(format string, data []byte) (image.Image, error) {
	return codecs[format].decode(bytes.NewReader(data))
}

// decodeError classifies a decoder error as truncated, unsupported or corrupt.
func decodeError(format string, err error) error {
	var perr png.UnsupportedError
	var terr tiff.UnsupportedError
	switch {
	case errors.Is(err, ErrCorruptImage), errors.Is(err, ErrUnsupportedImage):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		// image/png reports truncation as FormatError("unexpected EOF").
		strings.HasSuffix(err.Error(), "unexpected EOF"):
		return fmt.Errorf("%w: truncated %s data", ErrCorruptImage, format)
	case errors.As(err, &perr), errors.As(err, &terr):
		return fmt.Errorf("%w: %s variant: %v", ErrUnsupportedImage, format, err)
	case errors.Is(err, bmp.ErrUnsupported):
		return fmt.Errorf("%w: %s variant: %v", ErrUnsupportedImage, format, err)
	}
	return fmt.Errorf("%w: invalid %s data: %v", ErrCorruptImage, format, err)
}

// toRGB converts a decoded image to packed RGB as PIL's convert("RGB") would.
func toRGB(format string, m image.Image, data []byte) (*Image, error) {
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
	return out, nil
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
