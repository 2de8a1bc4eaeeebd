package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"io"
	"regexp"
	"strings"
)

// exifOrientationTag is the TIFF/EXIF Orientation tag (IFD0).
const exifOrientationTag = 0x0112

// exifOrientation returns the EXIF orientation (1..8) recorded in an encoded
// image, or 0 when there is none or it is unreadable. It looks where Pillow's
// Image.getexif looks: JPEG APP1 "Exif", PNG eXIf (else ImageMagick's "Raw
// profile type exif" text chunk), the WebP EXIF chunk, and a TIFF file's own
// first IFD; for JPEG and PNG, when that EXIF has no orientation entry, the
// XMP packet's tiff:Orientation. Hostile input yields 0, never a panic.
func exifOrientation(format string, data []byte) int {
	switch format {
	case "JPEG":
		return jpegOrientation(data)
	case "PNG":
		return pngOrientation(data)
	case "WebP":
		return webpOrientation(data)
	case "TIFF":
		return tiffOrientation(data)
	}
	return 0
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure (an EXIF
// payload or a TIFF file), either byte order. Orientation values outside 1..8,
// or stored with a count other than 1, count as absent (Pillow's
// exif_transpose ignores them).
func tiffOrientation(b []byte) int {
	o, _ := tiffOrientationTag(b)
	return o
}

// tiffOrientationTag is tiffOrientation that also reports whether IFD0 has
// an orientation entry at all, valid or not: Pillow falls back to the XMP
// packet only when it has none.
func tiffOrientationTag(b []byte) (o int, present bool) {
	if len(b) < 8 {
		return 0, false
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0, false
	}
	off := uint64(bo.Uint32(b[4:8]))
	if off+2 > uint64(len(b)) {
		return 0, false
	}
	n := uint64(bo.Uint16(b[off:]))
	for i := uint64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > uint64(len(b)) {
			return 0, false
		}
		if bo.Uint16(b[e:]) != exifOrientationTag {
			continue
		}
		typ, count := bo.Uint16(b[e+2:]), bo.Uint32(b[e+4:])
		if count != 1 {
			return 0, true
		}
		var v int64
		switch typ {
		case 1: // BYTE
			v = int64(b[e+8])
		case 3: // SHORT
			v = int64(bo.Uint16(b[e+8:]))
		case 8: // SSHORT
			v = int64(int16(bo.Uint16(b[e+8:])))
		case 4: // LONG
			v = int64(bo.Uint32(b[e+8:]))
		case 9: // SLONG
			v = int64(int32(bo.Uint32(b[e+8:])))
		default:
			return 0, true
		}
		if v < 1 || v > 8 {
			return 0, true
		}
		return int(v), true
	}
	return 0, false
}

// exifPayloadOrientation strips the optional "Exif\0\0" prefix, as Pillow's
// Exif.load does.
func exifPayloadOrientation(b []byte) int {
	o, _ := exifPayloadOrientationTag(b)
	return o
}

// exifPayloadOrientationTag is exifPayloadOrientation that also reports
// whether the orientation entry is there (see tiffOrientationTag).
func exifPayloadOrientationTag(b []byte) (int, bool) {
	return tiffOrientationTag(bytes.TrimPrefix(b, []byte("Exif\x00\x00")))
}

// orientationWithXMP is Pillow's rule for combining the two sources: the
// EXIF orientation entry when the EXIF payload (nil when there is none) has
// one, else the XMP packet's tiff:Orientation (xmp nil when there is none).
func orientationWithXMP(exif, xmp []byte) int {
	if o, present := exifPayloadOrientationTag(exif); present {
		return o
	}
	if xmp != nil {
		return xmpOrientationValue(xmp)
	}
	return 0
}

var xmpOrientation = regexp.MustCompile(`tiff:Orientation(="|>)([0-9])`)

// xmpOrientationValue is Pillow's XMP fallback: the first tiff:Orientation
// digit, when 1..8.
func xmpOrientationValue(x []byte) int {
	m := xmpOrientation.FindSubmatch(x)
	if m == nil {
		return 0
	}
	v := int(m[2][0] - '0')
	if v < 1 || v > 8 {
		return 0
	}
	return v
}

// jpegOrientation walks the JPEG markers before the first scan. The first APP1
// "Exif" segment counts (as in Pillow); when it has no orientation entry, or
// there is none, the first APP1 XMP packet's tiff:Orientation is used (as
// current Pillow does; Pillow 9.4 ignored XMP in JPEG files).
func jpegOrientation(data []byte) int {
	var exif, xmp []byte
	p := 2
scan:
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return 0
		}
		marker := data[p+1]
		switch {
		case marker == 0xFF: // fill byte
			p++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8):
			p += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan / end of image
			break scan
		}
		n := int(data[p+2])<<8 | int(data[p+3])
		if n < 2 || p+2+n > len(data) {
			break
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xE1 {
			// Pillow keeps the whole segment and parses it like the other
			// containers' payloads.
			if exif == nil && bytes.HasPrefix(seg, []byte("Exif\x00")) {
				exif = seg
			}
			if xmp == nil && bytes.HasPrefix(seg, []byte("http://ns.adobe.com/xap/1.0/\x00")) {
				xmp = seg
			}
		}
		p += 2 + n
	}
	return orientationWithXMP(exif, xmp)
}

// pngOrientation reads the PNG chunks the way Pillow's getexif sees them:
// the eXIf chunk, else ImageMagick's "Raw profile type exif" text chunk (a
// hex dump after three header lines), and, when that payload has no
// orientation entry, the XMP packet of an "XML:com.adobe.xmp" text chunk.
func pngOrientation(data []byte) int {
	var exif, raw, xmp []byte
	p := 8
	for p+12 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if n < 0 || n > len(data)-p-12 {
			break
		}
		typ := string(data[p+4 : p+8])
		body := data[p+8 : p+8+n]
		switch typ {
		case "eXIf":
			if exif == nil {
				exif = body
			}
		case "tEXt", "zTXt", "iTXt":
			switch key, text := pngText(typ, body); key {
			case "Raw profile type exif":
				if raw == nil {
					raw = text
				}
			case "XML:com.adobe.xmp":
				xmp = text // a later chunk replaces an earlier one in Pillow's info
			}
		}
		if typ == "IEND" {
			break
		}
		p += 12 + n
	}
	if exif == nil && raw != nil {
		exif = pngRawProfile(raw)
	}
	return orientationWithXMP(exif, xmp)
}

// pngTextMax bounds a decompressed text chunk (Pillow's MAX_TEXT_CHUNK).
const pngTextMax = 1 << 20

// pngText returns the keyword and text of a tEXt, zTXt or iTXt chunk, the
// text decompressed, for the keywords pngOrientation uses; key is "" for
// other keywords and malformed chunks.
func pngText(typ string, body []byte) (key string, text []byte) {
	k, rest, ok := bytes.Cut(body, []byte{0})
	if !ok || (string(k) != "Raw profile type exif" && string(k) != "XML:com.adobe.xmp") {
		return "", nil
	}
	compressed := false
	switch typ {
	case "zTXt": // compression method, data
		if len(rest) < 1 || rest[0] != 0 {
			return "", nil
		}
		rest, compressed = rest[1:], true
	case "iTXt": // flag, method, language\0, translated keyword\0, text
		if len(rest) < 2 || rest[0] > 1 || rest[1] != 0 {
			return "", nil
		}
		compressed = rest[0] == 1
		_, rest, ok = bytes.Cut(rest[2:], []byte{0})
		if ok {
			_, rest, ok = bytes.Cut(rest, []byte{0})
		}
		if !ok {
			return "", nil
		}
	}
	if compressed {
		zr, err := zlib.NewReader(bytes.NewReader(rest))
		if err != nil {
			return "", nil
		}
		if rest, err = io.ReadAll(io.LimitReader(zr, pngTextMax+1)); err != nil || len(rest) > pngTextMax {
			return "", nil
		}
	}
	return string(k), rest
}

// pngRawProfile decodes ImageMagick's "Raw profile type exif" text: three
// header lines, then the payload as hex. nil when it is malformed.
func pngRawProfile(text []byte) []byte {
	lines := strings.Split(string(text), "\n")
	if len(lines) < 4 {
		return nil
	}
	b, err := hex.DecodeString(strings.Join(lines[3:], ""))
	if err != nil {
		return nil
	}
	return b
}

// webpOrientation reads the EXIF chunk of an extended (VP8X) WebP file.
func webpOrientation(data []byte) int {
	p := 12
	for p+8 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[p+4:]))
		if n < 0 || n > len(data)-p-8 {
			return 0
		}
		if string(data[p:p+4]) == "EXIF" {
			return exifPayloadOrientation(data[p+8 : p+8+n])
		}
		p += 8 + n + n&1
	}
	return 0
}

// orient applies an EXIF orientation the way Pillow's ImageOps.exif_transpose
// does (2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise,
// 7 transverse, 8 rotate 90° counter-clockwise).
func orient(img *Image, o int) *Image {
	w, h := img.W, img.H
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	// src maps an output pixel to its input pixel.
	var src func(x, y int) (int, int)
	switch o {
	case 2:
		src = func(x, y int) (int, int) { return w - 1 - x, y }
	case 3:
		src = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case 4:
		src = func(x, y int) (int, int) { return x, h - 1 - y }
	case 5:
		src = func(x, y int) (int, int) { return y, x }
	case 6:
		src = func(x, y int) (int, int) { return y, h - 1 - x }
	case 7:
		src = func(x, y int) (int, int) { return w - 1 - y, h - 1 - x }
	case 8:
		src = func(x, y int) (int, int) { return w - 1 - y, x }
	default:
		return img
	}
	out := &Image{W: ow, H: oh, Pix: make([]uint8, len(img.Pix))}
	parallelRows(oh, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			for x := 0; x < ow; x++ {
				sx, sy := src(x, y)
				i, j := (y*ow+x)*3, (sy*w+sx)*3
				copy(out.Pix[i:i+3], img.Pix[j:j+3])
			}
		}
	})
	return out
}
