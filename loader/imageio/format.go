package imageio

import (
	"bytes"
	"fmt"
)

// sniffFormat names the supported format of an encoded image from its first
// bytes (sniffLen suffice), or says why it is not one.
func sniffFormat(head []byte) (string, error) {
	if len(head) == 0 {
		return "", fmt.Errorf("%w: empty file", ErrCorruptImage)
	}
	if f := imageFormat(head); f != "" {
		return f, nil
	}
	if f := otherFormat(head); f != "" {
		return "", fmt.Errorf("%w: %s images are not supported (convert to JPEG or PNG)", ErrUnsupportedImage, f)
	}
	return "", fmt.Errorf("%w: not a JPEG, PNG, GIF, BMP, TIFF or WebP file", ErrUnsupportedImage)
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
