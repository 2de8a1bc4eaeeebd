package imageio

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, m))
	return b.Bytes()
}

func TestImageDecodeErrors(t *testing.T) {
	pngData := encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	var jb bytes.Buffer
	require.NoError(t, jpeg.Encode(&jb, formulaRGBA(16, 16), nil))
	cases := []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, ErrCorruptImage, "empty file"},
		{"text", []byte("hello, world"), ErrUnsupportedImage, "not a JPEG, PNG"},
		{"heic", append([]byte{0, 0, 0, 24}, []byte("ftypheic0000mif1heic")...), ErrUnsupportedImage, "HEIC"},
		{"truncated png", pngData[:len(pngData)-20], ErrCorruptImage, "truncated PNG"},
		{"truncated jpeg", jb.Bytes()[:jb.Len()/2], ErrCorruptImage, "truncated JPEG"},
		{"png header only", pngData[:8], ErrCorruptImage, "PNG"},
		{"corrupt png crc", func() []byte {
			d := append([]byte(nil), pngData...)
			d[30] ^= 0xFF // inside IHDR: checksum mismatch
			return d
		}(), ErrCorruptImage, "invalid PNG"},
		{"gif garbage", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00\x99"), ErrCorruptImage, "GIF"},
		// libjpeg's fatal errors come back as errors (its default handler exits).
		{"jpeg bogus marker length", patchJPEG(t, jb.Bytes(), 0xDB, 0, 0, 1), ErrCorruptImage, "invalid JPEG data: Bogus marker length"},
		{"jpeg 12-bit", patchJPEG(t, jb.Bytes(), 0xC0, 2, 12), ErrUnsupportedImage, "JPEG variant"},
		{"jpeg lossless", patchJPEG(t, jb.Bytes(), 0xC0, -1, 0xC3), ErrUnsupportedImage, "JPEG variant"},
		{"jpeg without scan", func() []byte {
			// The tables, then EOI.
			d := jb.Bytes()
			sos := bytes.Index(d, []byte{0xFF, 0xDA})
			return append(append([]byte{}, d[:sos]...), 0xFF, 0xD9)
		}(), ErrCorruptImage, "invalid JPEG data: Invalid JPEG file structure: missing SOS marker"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(c.data), DecodeOptions{})
			require.Error(t, err)
			if c.is != nil {
				require.True(t, errors.Is(err, c.is), "%v", err)
				require.ErrorContains(t, err, c.msg)
			}
		})
	}
	// Load names the file.
	path := filepath.Join(t.TempDir(), "broken.jpg")
	require.NoError(t, os.WriteFile(path, jb.Bytes()[:100], 0o644))
	_, err := Load(path, DecodeOptions{})
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "truncated JPEG")
	_, err = Load(filepath.Join(t.TempDir(), "missing.png"), DecodeOptions{})
	require.ErrorContains(t, err, "missing.png")
	dir := t.TempDir()
	_, err = Load(dir, DecodeOptions{})
	require.ErrorContains(t, err, dir)
}

// patchJPEG returns a copy of a JPEG with bytes overwritten in the first
// segment of the given marker type, from offset off after its 0xFF marker
// pair (-1: the marker byte itself).
func patchJPEG(t *testing.T, data []byte, marker byte, off int, b ...byte) []byte {
	t.Helper()
	i := bytes.Index(data, []byte{0xFF, marker})
	require.Positive(t, i, "marker %#x", marker)
	d := append([]byte(nil), data...)
	copy(d[i+2+off:], b)
	return d
}

func pngData8x8(t testing.TB) []byte { return encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8))) }

// zeroReader yields zero bytes forever, like /dev/zero.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func formulaRGBA(w, h int) *image.RGBA {
	f := formulaImage(w, h)
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(m.Pix[4*i:4*i+3], f.Pix[3*i:3*i+3])
		m.Pix[4*i+3] = 255
	}
	return m
}

// Mode conversions the golden files do not reach: 16-bit gray with tRNS and
// paletted PNGs whose transparent entries keep their colour.
func TestImageModeConversions(t *testing.T) {
	g := image.NewGray16(image.Rect(0, 0, 3, 1))
	for i, v := range []uint16{7, 255, 40000} {
		g.SetGray16(i, 0, color.Gray16{Y: v})
	}
	img, err := Decode(bytes.NewReader(encodePNG(t, g)), DecodeOptions{})
	require.NoError(t, err)
	require.Equal(t, []uint8{7, 7, 7, 255, 255, 255, 255, 255, 255}, img.Pix, "PIL clips 16-bit gray")

	p := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{
		color.NRGBA{10, 20, 30, 0}, color.NRGBA{40, 50, 60, 128},
	})
	p.Pix = []uint8{0, 1}
	img, err = Decode(bytes.NewReader(encodePNG(t, p)), DecodeOptions{})
	require.NoError(t, err)
	require.Equal(t, []uint8{10, 20, 30, 40, 50, 60}, img.Pix, "alpha dropped, not composited")

	n := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	n.Pix = []uint8{200, 100, 50, 0}
	img, err = Decode(bytes.NewReader(encodePNG(t, n)), DecodeOptions{})
	require.NoError(t, err)
	require.Equal(t, []uint8{200, 100, 50}, img.Pix)
}

// Pillow's cmyk2rgb, checked on values computed with Pillow 9.4.0.
func TestImageCMYKToRGB(t *testing.T) {
	for _, c := range []struct{ in, out [4]uint8 }{
		{[4]uint8{0, 0, 0, 0}, [4]uint8{255, 255, 255}},
		{[4]uint8{255, 0, 0, 0}, [4]uint8{0, 255, 255}},
		{[4]uint8{100, 50, 200, 30}, [4]uint8{137, 181, 49}},
		{[4]uint8{10, 20, 30, 255}, [4]uint8{0, 0, 0}},
		{[4]uint8{128, 128, 128, 128}, [4]uint8{63, 63, 63}},
	} {
		r, g, b := cmykToRGB(c.in[0], c.in[1], c.in[2], c.in[3])
		require.Equal(t, [3]uint8{c.out[0], c.out[1], c.out[2]}, [3]uint8{r, g, b}, "%v", c.in)
	}
}

func BenchmarkDecodeJPEG4000x3000(b *testing.B) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, formulaRGBA(4000, 3000), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(data), DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// A GIF whose first frame covers part of the logical screen: Pillow 9.4 shows
// the screen, filled with the transparent index (else index 0) outside the
// frame, and the transparent entry keeps its palette colour. Expected red
// channels recorded with Pillow 9.4.0.
func TestImageGIFPartialFrame(t *testing.T) {
	pal := color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{200, 10, 10, 255},
		color.RGBA{10, 200, 10, 255}, color.RGBA{9, 9, 200, 255}}
	p := image.NewPaletted(image.Rect(2, 1, 5, 3), pal)
	for j := range p.Pix {
		p.Pix[j] = uint8(1 + j%3)
	}
	var b bytes.Buffer
	require.NoError(t, gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{p}, Delay: []int{0},
		Config: image.Config{Width: 7, Height: 4, ColorModel: pal}}))
	plain := b.Bytes()
	idx := bytes.IndexByte(plain[13+12:], 0x2C) + 13 + 12 // first image descriptor
	gce := []byte{0x21, 0xF9, 4, 1, 0, 0, 2, 0}           // transparent index 2
	transparent := append(append(append([]byte{}, plain[:idx]...), gce...), plain[idx:]...)
	for _, c := range []struct {
		data []byte
		want []uint8
	}{
		{plain, []uint8{1, 1, 1, 1, 1, 1, 1, 1, 1, 200, 10, 9, 1, 1, 1, 1, 200, 10, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{transparent, []uint8{10, 10, 10, 10, 10, 10, 10, 10, 10, 200, 10, 9, 10, 10, 10, 10, 200, 10, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10}},
	} {
		img, err := Decode(bytes.NewReader(c.data), DecodeOptions{})
		require.NoError(t, err)
		require.Equal(t, [2]int{7, 4}, [2]int{img.W, img.H})
		var red []uint8
		for i := 0; i < len(img.Pix); i += 3 {
			red = append(red, img.Pix[i])
		}
		require.Equal(t, c.want, red)
	}
}
