package imageio

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Image is an 8-bit RGB picture: W×H pixels, 3 bytes (R, G, B) per pixel, rows
// top to bottom without padding. It is what PIL's convert("RGB") holds, and the
// input of the resize and the preprocessor.
type Image struct {
	W, H int
	Pix  []uint8
}

// PillowMaxImagePixels is Pillow's Image.MAX_IMAGE_PIXELS, above which
// Pillow warns of a possible decompression bomb.
const PillowMaxImagePixels = 89_478_485

// DefaultMaxPixels is the default DecodeOptions.MaxPixels: Pillow's error
// threshold (DecompressionBombError), twice PillowMaxImagePixels, so that
// every image Pillow opens is opened. Refusing above it from the header
// keeps one hostile image (a few bytes of WebP or JPEG claiming 20000×20000
// pixels) from taking gigabytes; a Budget bounds what the images within it
// may take together.
const DefaultMaxPixels = 2 * PillowMaxImagePixels

// PixelLimitError is the error (wrapping ErrTooLarge) for an image with
// more pixels than DecodeOptions.MaxPixels, found from its header.
type PixelLimitError struct {
	Format        string // "JPEG", "PNG", ...
	Width, Height int
	Limit         int64
}

func (e *PixelLimitError) Error() string {
	return fmt.Sprintf("%v: %s image of %dx%d pixels exceeds the limit of %d pixels", ErrTooLarge, e.Format, e.Width, e.Height, e.Limit)
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *PixelLimitError) Unwrap() error { return ErrTooLarge }

// DefaultMaxBytes is the default DecodeOptions.MaxBytes: 512 MiB of encoded
// data, more than any image within DefaultMaxPixels needs except uncompressed
// 16-bit TIFF.
const DefaultMaxBytes = 512 << 20

// DecodeOptions controls Decode and Load. The zero value applies the EXIF
// orientation and the default limits, without a Budget.
type DecodeOptions struct {
	// NoEXIF leaves the pixels as stored: by default the EXIF orientation tag
	// is applied, as Hugging Face's load_image (ImageOps.exif_transpose) does.
	NoEXIF bool
	// MaxPixels refuses (ErrTooLarge) images of more pixels (width × height),
	// judged from the header before any pixel memory is allocated. Zero or
	// less means DefaultMaxPixels.
	MaxPixels int64
	// MaxBytes refuses (ErrTooLarge) encoded images longer than this many
	// bytes without reading past the limit. Zero or less means
	// DefaultMaxBytes.
	MaxBytes int64
	// Budget, when not nil, bounds the memory of the decodes sharing it: each
	// decode first waits for its estimated working memory (see Budget) and
	// returns it when done. Nil decodes without waiting.
	Budget *Budget
}

func (o DecodeOptions) maxPixels() int64 {
	if o.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return o.MaxPixels
}

func (o DecodeOptions) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// Errors returned (wrapped) by Decode and Load; test with errors.Is.
var (
	// ErrUnsupportedImage: the data is not an image format this package decodes
	// (JPEG, PNG, GIF, BMP, TIFF, WebP), or uses a feature of one it does not.
	ErrUnsupportedImage = errors.New("unsupported image format")
	// ErrCorruptImage: the data claims a known format but is empty, truncated
	// or malformed.
	ErrCorruptImage = errors.New("corrupt image")
	// ErrTooLarge: the image exceeds DecodeOptions.MaxPixels or MaxBytes,
	// needs more memory than its whole Budget, or is a JPEG of more scans,
	// or of scans decoding its blocks more times over, than encoders write
	// (a CPU-time bomb).
	ErrTooLarge = errors.New("image too large")
)

// clone returns a deep copy of img.
func (img *Image) clone() *Image {
	return &Image{W: img.W, H: img.H, Pix: append([]uint8(nil), img.Pix...)}
}

// Load reads and decodes the image file at path (see Decode). Only regular
// files (or symbolic links to them) are read: named pipes, devices and
// directories are refused without blocking. Errors name the file and the
// problem.
func Load(path string, opts DecodeOptions) (*Image, error) {
	return LoadContext(context.Background(), path, opts)
}

// LoadContext is Load that stops when ctx is done: it gives up waiting for
// opts.Budget, and stops a JPEG decode within a row (see DecodeContext).
// Errors read "PATH: problem", like the os package's: the path is the
// context a user needs.
func LoadContext(ctx context.Context, path string, opts DecodeOptions) (*Image, error) {
	f, size, err := openImageFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	img, err := decodeReader(ctx, f, size, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// Decode reads one encoded image from r, at most opts.MaxBytes bytes, and
// decodes it: JPEG (baseline, progressive, arithmetic, gray, CMYK, YCCK), PNG
// (1–16 bit, gray, gray+alpha, RGB, RGBA, palette), GIF (first frame), BMP,
// TIFF or WebP. The format is identified from the first bytes, before the
// rest is read.
//
// The pixels are converted to RGB the way PIL's convert("RGB") does: alpha is
// dropped (not composited), palettes are looked up, gray is copied to R, G and
// B, 16-bit colour keeps the high byte and 16-bit gray is clipped to 255 (PIL's
// mode "I"). The EXIF orientation is applied unless opts.NoEXIF. JPEG is
// decoded by libjpeg-turbo exactly as Pillow decodes it (image_jpeg.go), so
// the pixels are Pillow's bit for bit.
//
// The size in the header is checked against opts.MaxPixels before the pixels
// are decoded, and the decode waits for its working memory in opts.Budget.
func Decode(r io.Reader, opts DecodeOptions) (*Image, error) {
	return DecodeContext(context.Background(), r, opts)
}

// DecodeContext is Decode that stops when ctx is done, returning ctx.Err()
// (wrapped): it gives up waiting for opts.Budget, and libjpeg stops within a
// row of blocks or pixels, so a deadline or a shutdown is not held up by a
// large progressive JPEG. The Go decoders (PNG, GIF, BMP, TIFF, WebP) run to
// the end once started; their work is linear in the pixels MaxPixels bounds.
func DecodeContext(ctx context.Context, r io.Reader, opts DecodeOptions) (*Image, error) {
	img, err := decodeReader(ctx, r, -1, opts)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return img, nil
}

// ReadEncoded reads one encoded image from r without decoding it, as Decode
// reads: the first bytes must identify a supported format (else nothing more
// is read: a stream of zeros or text costs a few bytes, not MaxBytes), and
// at most opts.MaxBytes bytes are read. The data is for a later Decode (of
// opts too: the pixels are only judged then). Errors do not name r: the
// caller does.
func ReadEncoded(r io.Reader, opts DecodeOptions) ([]byte, error) {
	data, _, err := readImage(r, -1, opts.maxBytes())
	return data, err
}

// decodeReader reads (size: the expected length, or -1) and decodes one image.
func decodeReader(ctx context.Context, r io.Reader, size int64, opts DecodeOptions) (*Image, error) {
	data, format, err := readImage(r, size, opts.maxBytes())
	if err != nil {
		return nil, err
	}
	return decodeBytes(ctx, data, format, opts)
}
