package imageio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"math"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// decodeBytes decodes a whole encoded image of a sniffed format: header
// first, then the limits, then the pixels.
func decodeBytes(ctx context.Context, data []byte, format string, opts DecodeOptions) (*Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := readHeader(format, data)
	if err != nil {
		return nil, err
	}
	if h.w <= 0 || h.h <= 0 {
		return nil, fmt.Errorf("%w: %s image has size %dx%d", ErrCorruptImage, format, h.w, h.h)
	}
	if px, limit := int64(h.w)*int64(h.h), opts.maxPixels(); px > limit {
		return nil, &PixelLimitError{Format: format, Width: h.w, Height: h.h, Limit: limit}
	}
	orientation := 0
	if !opts.NoEXIF {
		orientation = exifOrientation(format, data)
	}
	if opts.Budget != nil {
		need := h.workingSet(orientation > 1)
		if err := opts.Budget.Acquire(ctx, need); err != nil {
			return nil, fmt.Errorf("%s image of %dx%d pixels: %w", format, h.w, h.h, err)
		}
		defer opts.Budget.Release(need)
	}
	var img *Image
	switch format {
	case "JPEG":
		img, err = decodeJPEG(ctx, data)
	case "GIF":
		img, err = decodeGIF(data)
		if err != nil {
			err = decodeError(format, err)
		}
	default:
		img, err = decodeStd(format, data)
	}
	if err != nil {
		return nil, err
	}
	if orientation > 1 {
		img = orient(img, orientation)
	}
	return img, nil
}

// header is what an image's header says, read before any pixel memory is
// allocated.
type header struct {
	w, h int
	// perPixel is the decoder's own memory per pixel (the image it decodes
	// into, before the conversion to RGB), fixed the rest of it.
	perPixel, fixed int64
}

// workingSet estimates the peak memory of decoding the image: the RGB result
// (3 bytes a pixel), the decoder's memory, and a second RGB image when the
// EXIF orientation rotates or flips it. The per-format terms are documented
// on Budget.
func (h header) workingSet(reoriented bool) int64 {
	px := int64(h.w) * int64(h.h)
	perPixel := 3 + h.perPixel
	if reoriented {
		perPixel += 3
	}
	if px > (math.MaxInt64-h.fixed)/perPixel {
		return math.MaxInt64
	}
	return px*perPixel + h.fixed
}

// stdConfigs read the headers of the formats with Go decoders.
var stdConfigs = map[string]func(io.Reader) (image.Config, error){
	"PNG":  png.DecodeConfig,
	"GIF":  gif.DecodeConfig,
	"BMP":  bmp.DecodeConfig,
	"TIFF": tiff.DecodeConfig,
	"WebP": webp.DecodeConfig,
}

// stdDecoders are the Go decoders converted by toRGB (JPEG is decoded by
// libjpeg, decodeJPEG, and GIF's first frame by decodeGIF).
var stdDecoders = map[string]func(io.Reader) (image.Image, error){
	"PNG":  png.Decode,
	"BMP":  bmp.Decode,
	"TIFF": tiff.Decode,
	"WebP": webp.Decode,
}

// readHeader reads the size of an image and what its decoder needs.
func readHeader(format string, data []byte) (header, error) {
	if format == "JPEG" {
		j, err := readJPEGHeader(data)
		if err != nil {
			return header{}, err
		}
		return header{w: j.w, h: j.h, fixed: jpegWorkBytes(j) + jpegScratchBytes(j)}, nil
	}
	cfg, err := stdConfigs[format](bytes.NewReader(data))
	if err != nil {
		return header{}, decodeError(format, err)
	}
	return header{w: cfg.Width, h: cfg.Height, perPixel: stdBytesPerPixel(format, cfg.ColorModel, data), fixed: 1 << 20}, nil
}

// stdBytesPerPixel bounds the memory per pixel of a Go decoder: the image it
// returns, of the colour model its header announces, and what it needs
// besides.
func stdBytesPerPixel(format string, m color.Model, data []byte) int64 {
	var n int64
	switch m {
	case color.GrayModel:
		n = 1
		if format == "PNG" {
			n = 4 // NRGBA when a tRNS chunk follows the header
		}
	case color.Gray16Model:
		n = 2
		if format == "PNG" {
			n = 8 // NRGBA64 with tRNS
		}
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		n = 4
	default: // RGBA64, NRGBA64, and anything new
		n = 8
	}
	if _, ok := m.(color.Palette); ok {
		n = 1
	}
	switch format {
	case "PNG":
		if pngInterlaced(data) {
			n *= 2 // Adam7 passes are decoded into images of their own first
		}
	case "TIFF":
		n *= 2 // the decompressed strips or tiles, then the image
	case "GIF":
		n = 1 // decodeGIF: the first frame, paletted, at most the screen size
	case "WebP":
		n = 8 // lossless: 4-byte pixels and a transformed copy; lossy: YCbCr, alpha and its lossless source
	}
	return n
}

// decodeStd decodes PNG, BMP, TIFF or WebP with the Go decoders.
func decodeStd(format string, data []byte) (*Image, error) {
	m, err := stdDecoders[format](bytes.NewReader(data))
	if err != nil {
		return nil, decodeError(format, err)
	}
	return toRGB(format, m, data), nil
}

// decodeError classifies a Go decoder's error as truncated, unsupported or
// corrupt.
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

// pngInterlaced reports whether a PNG's IHDR says Adam7 interlacing.
func pngInterlaced(data []byte) bool {
	// signature (8) + length (4) + "IHDR" (4) + width, height (8) + depth,
	// colour type, compression, filter (4) + interlace
	return len(data) >= 29 && string(data[12:16]) == "IHDR" && data[28] == 1
}
