package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"image/jpeg"
	"image/png"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/tiff"
)

// tiffIFD builds a TIFF structure whose IFD0 holds one entry.
func tiffIFD(bo binary.ByteOrder, tag, typ uint16, count, value uint32) []byte {
	b := make([]byte, 8+2+12+4)
	if bo == binary.LittleEndian {
		copy(b, "II*\x00")
	} else {
		copy(b, "MM\x00*")
	}
	bo.PutUint32(b[4:], 8)
	bo.PutUint16(b[8:], 1)
	bo.PutUint16(b[10:], tag)
	bo.PutUint16(b[12:], typ)
	bo.PutUint32(b[14:], count)
	switch typ {
	case 3, 8:
		bo.PutUint16(b[18:], uint16(value))
	case 1:
		b[18] = byte(value)
	default:
		bo.PutUint32(b[18:], value)
	}
	return b
}

func TestEXIFTIFFOrientation(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	cases := []struct {
		name string
		data []byte
		want int
	}{
		{"LE short", tiffIFD(le, 0x0112, 3, 1, 6), 6},
		{"BE short", tiffIFD(be, 0x0112, 3, 1, 8), 8},
		{"BE long", tiffIFD(be, 0x0112, 4, 1, 3), 3},
		{"LE byte", tiffIFD(le, 0x0112, 1, 1, 5), 5},
		{"signed short", tiffIFD(le, 0x0112, 8, 1, 2), 2},
		{"out of range", tiffIFD(le, 0x0112, 3, 1, 9), 0},
		{"zero", tiffIFD(le, 0x0112, 3, 1, 0), 0},
		{"count 2", tiffIFD(le, 0x0112, 3, 2, 6), 0},
		{"rational type", tiffIFD(le, 0x0112, 5, 1, 6), 0},
		{"other tag", tiffIFD(le, 0x0110, 3, 1, 6), 0},
		{"bad magic", append([]byte("XX*\x00"), tiffIFD(le, 0x0112, 3, 1, 6)[4:]...), 0},
		{"short", []byte("II*\x00\x08"), 0},
		{"truncated entry", tiffIFD(le, 0x0112, 3, 1, 6)[:15], 0},
		{"IFD offset past end", func() []byte {
			b := tiffIFD(le, 0x0112, 3, 1, 6)
			le.PutUint32(b[4:], 0xFFFFFFF0)
			return b
		}(), 0},
		{"huge entry count", func() []byte {
			b := tiffIFD(be, 0x0110, 3, 1, 6)
			be.PutUint16(b[8:], 0xFFFF)
			return b
		}(), 0},
	}
	for _, c := range cases {
		require.Equal(t, c.want, tiffOrientation(c.data), c.name)
		require.Equal(t, c.want, exifPayloadOrientation(append([]byte("Exif\x00\x00"), c.data...)), c.name)
	}
}

// withAPP1 inserts APP1 segments right after a JPEG's SOI marker.
func withAPP1(jpg []byte, payloads ...[]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, p := range payloads {
		out = append(out, 0xFF, 0xE1, byte((len(p)+2)>>8), byte(len(p)+2))
		out = append(out, p...)
	}
	return append(out, jpg[2:]...)
}

func TestEXIFJPEGOrientation(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, formulaRGBA(12, 7), &jpeg.Options{Quality: 95}))
	base := b.Bytes()
	raw, err := Decode(bytes.NewReader(base), DecodeOptions{})
	require.NoError(t, err)
	exif := func(bo binary.ByteOrder, o uint32) []byte {
		return append([]byte("Exif\x00\x00"), tiffIFD(bo, 0x0112, 3, 1, o)...)
	}
	xmp := func(s string) []byte { return append([]byte("http://ns.adobe.com/xap/1.0/\x00"), s...) }
	cases := []struct {
		name string
		segs [][]byte
		want int
	}{
		{"none", nil, 1},
		{"LE 6", [][]byte{exif(binary.LittleEndian, 6)}, 6},
		{"BE 3", [][]byte{exif(binary.BigEndian, 3)}, 3},
		{"first Exif wins", [][]byte{exif(binary.LittleEndian, 5), exif(binary.LittleEndian, 8)}, 5},
		{"XMP attribute", [][]byte{xmp(`<rdf:Description tiff:Orientation="7"/>`)}, 7},
		{"XMP element", [][]byte{xmp(`<tiff:Orientation>2</tiff:Orientation>`)}, 2},
		{"Exif beats XMP", [][]byte{xmp(`tiff:Orientation="7"`), exif(binary.BigEndian, 4)}, 4},
		{"Exif orientation 1", [][]byte{exif(binary.BigEndian, 1)}, 1},
		{"garbage Exif", [][]byte{[]byte("Exif\x00\x00MM\x00*\xff\xff\xff\xff")}, 1},
		// Pillow strips only a full "Exif\0\0" prefix; anything else is not TIFF.
		{"Exif without orientation, XMP", [][]byte{append([]byte("Exif\x00\x00"), tiffIFD(binary.LittleEndian, 0x0131, 3, 1, 5)...),
			xmp(`tiff:Orientation="7"`)}, 7},
		{"invalid Exif orientation, XMP", [][]byte{exif(binary.BigEndian, 9), xmp(`tiff:Orientation="7"`)}, 1},
		{"Exif prefix without the second NUL", [][]byte{append([]byte("Exif\x00X"), tiffIFD(binary.BigEndian, 0x0112, 3, 1, 6)...)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := withAPP1(base, c.segs...)
			got, err := Decode(bytes.NewReader(data), DecodeOptions{})
			require.NoError(t, err)
			require.Equal(t, orient(raw, c.want), got)
			plain, err := Decode(bytes.NewReader(data), DecodeOptions{NoEXIF: true})
			require.NoError(t, err)
			require.Equal(t, raw, plain)
		})
	}
}

func pngChunk(typ string, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	b = append(b, typ...)
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), body...)))
}

// ImageMagick stores EXIF in PNG as a hex "Raw profile type exif" text chunk.
func TestEXIFPNGRawProfile(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, formulaRGBA(6, 4)))
	data := b.Bytes()
	payload := append([]byte("Exif\x00\x00"), tiffIFD(binary.BigEndian, 0x0112, 3, 1, 6)...)
	text := "Raw profile type exif\x00\nexif\n" + "      30\n" + hex.EncodeToString(payload) + "\n"
	withText := append(append(append([]byte(nil), data[:33]...), pngChunk("tEXt", []byte(text))...), data[33:]...)
	got, err := Decode(bytes.NewReader(withText), DecodeOptions{})
	require.NoError(t, err)
	require.Equal(t, [2]int{4, 6}, [2]int{got.W, got.H})
	require.Equal(t, 6, pngOrientation(withText))
	require.Equal(t, 0, pngOrientation(data))
}

// Pillow takes the orientation from a PNG's "XML:com.adobe.xmp" text chunk
// (tEXt, zTXt or iTXt, before or after the image data) when the EXIF payload
// has no orientation entry (checked against Pillow 9.4).
func TestEXIFPNGXMP(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, formulaRGBA(6, 4)))
	data := b.Bytes()
	iend := len(data) - 12
	xmp := []byte(`<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>`)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, err := zw.Write(xmp)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	key := []byte("XML:com.adobe.xmp\x00")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	exifNoOrient := append([]byte("Exif\x00\x00"), tiffIFD(binary.BigEndian, 0x0131, 3, 1, 5)...)
	exif3 := tiffIFD(binary.LittleEndian, 0x0112, 3, 1, 3)
	cases := []struct {
		name   string
		chunks [][]byte // inserted after IHDR
		tail   [][]byte // inserted before IEND
		want   int
	}{
		{"tEXt", [][]byte{pngChunk("tEXt", cat(key, xmp))}, nil, 6},
		{"zTXt", [][]byte{pngChunk("zTXt", cat(key, []byte{0}, z.Bytes()))}, nil, 6},
		{"iTXt", [][]byte{pngChunk("iTXt", cat(key, []byte("\x00\x00en\x00XMP\x00"), xmp))}, nil, 6},
		{"iTXt compressed", [][]byte{pngChunk("iTXt", cat(key, []byte("\x01\x00\x00\x00"), z.Bytes()))}, nil, 6},
		{"iTXt after the image data", nil, [][]byte{pngChunk("iTXt", cat(key, []byte("\x00\x00\x00\x00"), xmp))}, 6},
		{"eXIf without orientation", [][]byte{pngChunk("eXIf", exifNoOrient), pngChunk("tEXt", cat(key, xmp))}, nil, 6},
		{"eXIf orientation wins", [][]byte{pngChunk("tEXt", cat(key, xmp)), pngChunk("eXIf", exif3)}, nil, 3},
		{"other keyword", [][]byte{pngChunk("tEXt", cat([]byte("Comment\x00"), xmp))}, nil, 0},
		{"bad zlib", [][]byte{pngChunk("zTXt", cat(key, []byte{0}, []byte("not zlib")))}, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := cat(data[:33], cat(c.chunks...), data[33:iend], cat(c.tail...), data[iend:])
			require.Equal(t, c.want, pngOrientation(f))
			got, err := Decode(bytes.NewReader(f), DecodeOptions{})
			require.NoError(t, err)
			raw, err := Decode(bytes.NewReader(f), DecodeOptions{NoEXIF: true})
			require.NoError(t, err)
			require.Equal(t, orient(raw, c.want), got)
		})
	}
}

// A TIFF file's own IFD0 orientation is applied once.
func TestEXIFTIFFFile(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, tiff.Encode(&b, formulaRGBA(5, 3), nil))
	data := b.Bytes()
	require.Equal(t, 0, tiffOrientation(data))
	raw, err := Decode(bytes.NewReader(data), DecodeOptions{})
	require.NoError(t, err)
	// Turn the encoder's ResolutionUnit entry (tag 296, SHORT) into
	// Orientation = 6, then re-sort the self-contained 12-byte entries.
	bo := binary.LittleEndian
	off := int(bo.Uint32(data[4:]))
	n := int(bo.Uint16(data[off:]))
	entries := make([][]byte, n)
	patched := false
	for i := range entries {
		e := append([]byte(nil), data[off+2+12*i:off+14+12*i]...)
		if bo.Uint16(e) == 296 {
			bo.PutUint16(e, 0x0112)
			bo.PutUint16(e[8:], 6)
			patched = true
		}
		entries[i] = e
	}
	require.True(t, patched)
	slices.SortFunc(entries, func(a, b []byte) int { return int(bo.Uint16(a)) - int(bo.Uint16(b)) })
	for i, e := range entries {
		copy(data[off+2+12*i:], e)
	}
	require.Equal(t, 6, tiffOrientation(data))
	got, err := Decode(bytes.NewReader(data), DecodeOptions{})
	require.NoError(t, err)
	require.Equal(t, orient(raw, 6), got)
	require.Equal(t, [2]int{3, 5}, [2]int{got.W, got.H})
}

func TestEXIFOrientTransforms(t *testing.T) {
	// A 3×2 image with distinct pixels p(x,y) = 10·y + x.
	img := &Image{W: 3, H: 2}
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			v := uint8(10*y + x)
			img.Pix = append(img.Pix, v, v, v)
		}
	}
	gray := func(m *Image) []uint8 {
		var g []uint8
		for i := 0; i < len(m.Pix); i += 3 {
			g = append(g, m.Pix[i])
		}
		return g
	}
	for _, c := range []struct {
		o    int
		w, h int
		want []uint8
	}{
		{1, 3, 2, []uint8{0, 1, 2, 10, 11, 12}},
		{2, 3, 2, []uint8{2, 1, 0, 12, 11, 10}},
		{3, 3, 2, []uint8{12, 11, 10, 2, 1, 0}},
		{4, 3, 2, []uint8{10, 11, 12, 0, 1, 2}},
		{5, 2, 3, []uint8{0, 10, 1, 11, 2, 12}},
		{6, 2, 3, []uint8{10, 0, 11, 1, 12, 2}}, // 90° clockwise
		{7, 2, 3, []uint8{12, 2, 11, 1, 10, 0}},
		{8, 2, 3, []uint8{2, 12, 1, 11, 0, 10}}, // 90° counter-clockwise
	} {
		out := orient(img, c.o)
		require.Equal(t, [2]int{c.w, c.h}, [2]int{out.W, out.H}, "orientation %d", c.o)
		require.Equal(t, c.want, gray(out), "orientation %d", c.o)
	}
}

func FuzzEXIF(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add(tiffIFD(binary.BigEndian, 0x0112, 3, 1, 6))
	f.Add(withAPP1([]byte{0xFF, 0xD8, 0xFF, 0xD9}, append([]byte("Exif\x00\x00"), tiffIFD(binary.LittleEndian, 0x0112, 3, 1, 3)...)))
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(`<x tiff:Orientation="8"/>`))
	zw.Close()
	f.Add(append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x01\x00en\x00\x00"), z.Bytes()...))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{"JPEG", "PNG", "WebP", "TIFF", "GIF"} {
			o := exifOrientation(format, data)
			if o < 0 || o > 8 {
				t.Fatalf("%s: orientation %d", format, o)
			}
		}
		if o := exifPayloadOrientation(data); o < 0 || o > 8 {
			t.Fatalf("payload orientation %d", o)
		}
	})
}
