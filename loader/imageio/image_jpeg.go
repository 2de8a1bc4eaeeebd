package imageio

// JPEG is decoded by libjpeg-turbo, the library Pillow links, driven the way
// Pillow's decoder (libImaging/JpegDecode.c) drives it, so that the pixels
// are Pillow's bit for bit:
//
//   - libjpeg's defaults are kept: the ISLOW integer IDCT and "fancy"
//     (triangle-filter) chroma upsampling. Pillow changes them only in draft
//     mode, which load_image never uses.
//   - Gray and three-component files are decoded straight to RGB (libjpeg
//     converts YCbCr with its own tables and copies gray to R, G and B, which
//     is what PIL's "L" → "RGB" conversion does too).
//   - Four-component files (CMYK, or YCCK, which libjpeg converts to CMYK) are
//     decoded to CMYK. Pillow opens every one of them as mode "CMYK" with raw
//     mode "CMYK;I": it assumes Adobe's inverted polarity whether or not the
//     file has an Adobe marker, so the samples are inverted, and convert("RGB")
//     then applies Pillow's cmyk2rgb (cmykToRGB here).
//   - Other component counts and precisions other than 8 bits are refused, as
//     Pillow refuses them.
//   - libjpeg's warnings (corrupt entropy data, bad restart markers, ...) are
//     ignored, as Pillow ignores them, except running out of data: Pillow's
//     incremental source then raises "image file is truncated" unless all
//     scanlines were already read, and so does decodeJPEG. (libjpeg's memory
//     source would instead warn and pretend the file ended there.)
//   - libjpeg's fatal errors come back as Go errors: the error manager longjmps
//     out of libjpeg instead of calling exit(3).
//   - Unlike Pillow, files of more than jpegMaxScans scans are refused.
//
// libjpeg is linked statically (libjpeg.a): binaries carried to other
// machines need no libjpeg there (Ubuntu, say, has libjpeg.so.8, not .62),
// and decode with the version they were built and tested with (libjpeg-turbo
// 2.1 and 3.1 were measured to give the same pixels, with and without SIMD).
//
// Each decode has its own libjpeg object, so decodes may run on any number of
// goroutines. The environment variables libjpeg reads are overridden where
// they could change the result or the memory use (JPEGMEM); its SIMD
// selection (JSIMD_*) gives the same pixels on every path.

/*
#cgo LDFLAGS: -l:libjpeg.a
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

// jpg_dec is one decode: libjpeg's object, its error manager, and where a
// fatal message goes.
typedef struct {
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr err;
	struct jpeg_progress_mgr progress;
	int max_scans;
	jmp_buf jump;
	int finishing;  // set while jpeg_finish_decompress reads the trailing markers
	int code;       // libjpeg's message code of the failure
	char msg[JMSG_LENGTH_MAX];
	unsigned long long coef_bytes;  // whole-image coefficient buffers, 0 for single-scan files
} jpg_dec;

// jpg_fail records the current message and returns to the setjmp of the entry
// point that called into libjpeg.
static void jpg_fail(j_common_ptr cinfo) {
	jpg_dec *d = (jpg_dec *)cinfo->client_data;
	d->code = cinfo->err->msg_code;
	(*cinfo->err->format_message)(cinfo, d->msg);
	longjmp(d->jump, 1);
}

// jpg_emit handles warnings (level -1) and trace messages (level >= 0): all are
// silent, and running out of data is fatal unless every scanline is done.
static void jpg_emit(j_common_ptr cinfo, int level) {
	jpg_dec *d = (jpg_dec *)cinfo->client_data;
	if (level >= 0) {
		return;
	}
	cinfo->err->num_warnings++;
	if (cinfo->err->msg_code == JWRN_JPEG_EOF && !d->finishing) {
		jpg_fail(cinfo);
	}
}

static void jpg_silent(j_common_ptr cinfo) {}

// JPG_TOO_MANY_SCANS is jpg_dec.code when jpg_progress stops a decode.
#define JPG_TOO_MANY_SCANS (-1)

// jpg_progress runs between the rows libjpeg reads; it stops files with more
// scans than max_scans, each of which may cost a pass over the whole image.
static void jpg_progress(j_common_ptr cinfo) {
	jpg_dec *d = (jpg_dec *)cinfo->client_data;
	if (d->cinfo.input_scan_number > d->max_scans) {
		d->code = JPG_TOO_MANY_SCANS;
		snprintf(d->msg, sizeof d->msg, "more than %d scans", d->max_scans);
		longjmp(d->jump, 1);
	}
}

static jpg_dec *jpg_new(int max_scans) {
	jpg_dec *d = calloc(1, sizeof(jpg_dec));
	if (d == NULL) {
		return NULL;
	}
	d->cinfo.err = jpeg_std_error(&d->err);
	d->err.error_exit = jpg_fail;
	d->err.emit_message = jpg_emit;
	d->err.output_message = jpg_silent;
	d->progress.progress_monitor = jpg_progress;
	d->max_scans = max_scans;
	d->cinfo.client_data = d;
	return d;
}

// jpg_header reads the markers up to the first scan of data[0:n], which
// must stay valid until jpg_free. Returns 0, or -1 with d->msg set.
static int jpg_header(jpg_dec *d, const unsigned char *data, unsigned long n) {
	if (setjmp(d->jump)) {
		return -1;
	}
	jpeg_create_decompress(&d->cinfo);
	d->cinfo.progress = &d->progress;
	jpeg_mem_src(&d->cinfo, data, n);
	jpeg_read_header(&d->cinfo, TRUE);
	d->coef_bytes = 0;
	if (jpeg_has_multiple_scans(&d->cinfo)) {
		// jdcoefct.c keeps every block of every component: blocks padded to
		// whole MCUs, 64 coefficients of JCOEF each.
		for (int i = 0; i < d->cinfo.num_components; i++) {
			jpeg_component_info *c = &d->cinfo.comp_info[i];
			unsigned long long bw = c->width_in_blocks, bh = c->height_in_blocks;
			bw = (bw + c->h_samp_factor - 1) / c->h_samp_factor * c->h_samp_factor;
			bh = (bh + c->v_samp_factor - 1) / c->v_samp_factor * c->v_samp_factor;
			d->coef_bytes += bw * bh * sizeof(JBLOCK);
		}
	}
	return 0;
}

// jpg_start starts decompression to RGB, or to CMYK when cmyk is set;
// libjpeg may use max_mem bytes in all (its buffers beyond that would need a
// backing store, which this build refuses). Progressive and other multi-scan
// files are read to the end here.
static int jpg_start(jpg_dec *d, int cmyk, long max_mem) {
	if (setjmp(d->jump)) {
		return -1;
	}
	d->cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	d->cinfo.mem->max_memory_to_use = max_mem;
	jpeg_start_decompress(&d->cinfo);
	return 0;
}

// jpg_read reads up to rows scanlines into buf, one every stride bytes.
// Returns the number read, or -1.
static int jpg_read(jpg_dec *d, unsigned char *buf, size_t stride, int rows) {
	if (setjmp(d->jump)) {
		return -1;
	}
	int done = 0;
	while (done < rows && d->cinfo.output_scanline < d->cinfo.output_height) {
		JSAMPROW row = buf + (size_t)done * stride;
		JDIMENSION n = jpeg_read_scanlines(&d->cinfo, &row, 1);
		if (n == 0) {
			break;  // only a suspending source stops early; never spin
		}
		done += n;
	}
	return done;
}

// jpg_finish reads the markers after the last scan.
static int jpg_finish(jpg_dec *d) {
	if (setjmp(d->jump)) {
		return -1;
	}
	d->finishing = 1;
	jpeg_finish_decompress(&d->cinfo);
	return 0;
}

static void jpg_free(jpg_dec *d) {
	jpeg_destroy_decompress(&d->cinfo);
	free(d);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// jpegDecoder is one libjpeg decode of an encoded image held in Go memory,
// pinned because libjpeg's memory source keeps a pointer to it between calls.
type jpegDecoder struct {
	c   *C.jpg_dec
	pin runtime.Pinner
}

// jpegMaxScans bounds the scans of a JPEG. Encoders write one (baseline) to
// about a dozen (progressive); a hostile file can repeat scans that cost
// little data but a pass over every block of the image each, a CPU-time
// bomb Pillow does not guard against.
const jpegMaxScans = 500

// newJPEGDecoder reads the header of data (not empty). The caller must close
// the decoder.
func newJPEGDecoder(data []byte) (*jpegDecoder, error) {
	c := C.jpg_new(jpegMaxScans)
	if c == nil {
		return nil, errors.New("libjpeg: out of memory")
	}
	d := &jpegDecoder{c: c}
	d.pin.Pin(&data[0])
	if C.jpg_header(c, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data))) != 0 {
		err := d.err()
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *jpegDecoder) close() {
	C.jpg_free(d.c)
	d.pin.Unpin()
}

// err classifies libjpeg's failure message.
func (d *jpegDecoder) err() error {
	msg := C.GoString(&d.c.msg[0])
	switch d.c.code {
	case C.JPG_TOO_MANY_SCANS:
		return fmt.Errorf("%w: JPEG with %s", ErrTooLarge, msg)
	case C.JWRN_JPEG_EOF:
		return fmt.Errorf("%w: truncated JPEG data", ErrCorruptImage)
	case C.JERR_BAD_PRECISION, C.JERR_CONVERSION_NOTIMPL, C.JERR_NOT_COMPILED, C.JERR_ARITH_NOTIMPL,
		C.JERR_CCIR601_NOTIMPL, C.JERR_SOF_UNSUPPORTED, C.JERR_IMAGE_TOO_BIG, C.JERR_WIDTH_OVERFLOW,
		C.JERR_EMPTY_IMAGE:
		return fmt.Errorf("%w: JPEG variant: %s", ErrUnsupportedImage, msg)
	case C.JERR_OUT_OF_MEMORY, C.JERR_NO_BACKING_STORE:
		return fmt.Errorf("libjpeg: %s", msg)
	}
	return fmt.Errorf("%w: invalid JPEG data: %s", ErrCorruptImage, msg)
}

// jpegHeader is what decodeJPEG needs to know before it decodes.
type jpegHeader struct {
	w, h, components int
	// coefBytes is the size of libjpeg's whole-image coefficient buffers, which
	// progressive and other multi-scan files need; 0 for single-scan files.
	coefBytes int64
}

// readJPEGHeader reads the size and layout from a JPEG's markers (libjpeg's
// jpeg_read_header), refusing what Pillow cannot open either.
func readJPEGHeader(data []byte) (jpegHeader, error) {
	d, err := newJPEGDecoder(data)
	if err != nil {
		return jpegHeader{}, err
	}
	defer d.close()
	return d.header()
}

func (d *jpegDecoder) header() (jpegHeader, error) {
	ci := &d.c.cinfo
	h := jpegHeader{w: int(ci.image_width), h: int(ci.image_height), components: int(ci.num_components),
		coefBytes: int64(d.c.coef_bytes)}
	if ci.data_precision != 8 {
		return h, fmt.Errorf("%w: JPEG variant: %d-bit samples", ErrUnsupportedImage, ci.data_precision)
	}
	switch h.components {
	case 1, 3, 4:
	default:
		return h, fmt.Errorf("%w: JPEG variant: %d components", ErrUnsupportedImage, h.components)
	}
	return h, nil
}

// jpegWorkBytes bounds what libjpeg allocates for a decode beyond the
// coefficient buffers: the sample, upsampling and colour-conversion rows (a
// few dozen rows of every component at full width), tables and the objects
// themselves.
func jpegWorkBytes(h jpegHeader) int64 {
	return h.coefBytes + 128*int64(h.w)*int64(h.components) + 4<<20
}

// jpegCMYKRows is how many CMYK rows decodeJPEG converts at a time.
const jpegCMYKRows = 16

// jpegScratchBytes is the Go-side scratch memory of decodeJPEG.
func jpegScratchBytes(h jpegHeader) int64 {
	if h.components == 4 {
		return jpegCMYKRows * 4 * int64(h.w)
	}
	return 0
}

// decodeJPEG decodes data to RGB as Pillow's load_image would (see the top of
// this file).
func decodeJPEG(data []byte) (*Image, error) {
	d, err := newJPEGDecoder(data)
	if err != nil {
		return nil, err
	}
	defer d.close()
	h, err := d.header()
	if err != nil {
		return nil, err
	}
	cmyk := h.components == 4
	if C.jpg_start(d.c, C.int(boolInt(cmyk)), C.long(jpegWorkBytes(h))) != 0 {
		return nil, d.err()
	}
	if w, ht := int(d.c.cinfo.output_width), int(d.c.cinfo.output_height); w != h.w || ht != h.h {
		return nil, fmt.Errorf("%w: JPEG output %dx%d for a %dx%d image", ErrCorruptImage, w, ht, h.w, h.h)
	}
	img := &Image{W: h.w, H: h.h, Pix: make([]uint8, 3*h.w*h.h)}
	if cmyk {
		err = d.readCMYK(img)
	} else {
		err = d.read(img.Pix, 3*h.w, h.h)
	}
	if err != nil {
		return nil, err
	}
	if C.jpg_finish(d.c) != 0 {
		return nil, d.err()
	}
	return img, nil
}

// read decodes the next rows scanlines into buf, stride bytes apart.
func (d *jpegDecoder) read(buf []uint8, stride, rows int) error {
	n := C.jpg_read(d.c, (*C.uchar)(unsafe.Pointer(&buf[0])), C.size_t(stride), C.int(rows))
	if n < 0 {
		return d.err()
	}
	if int(n) != rows {
		return fmt.Errorf("%w: JPEG ended after %d rows", ErrCorruptImage, int(d.c.cinfo.output_scanline))
	}
	return nil
}

// readCMYK decodes a four-component image a few rows at a time and converts
// it as Pillow does: raw mode "CMYK;I" (every sample inverted), then cmyk2rgb.
func (d *jpegDecoder) readCMYK(img *Image) error {
	w := img.W
	buf := make([]uint8, jpegCMYKRows*4*w)
	for y := 0; y < img.H; y += jpegCMYKRows {
		rows := min(jpegCMYKRows, img.H-y)
		if err := d.read(buf, 4*w, rows); err != nil {
			return err
		}
		out := img.Pix[3*w*y : 3*w*(y+rows)]
		for i := range rows * w {
			p := buf[4*i : 4*i+4 : 4*i+4]
			out[3*i], out[3*i+1], out[3*i+2] = cmykToRGB(^p[0], ^p[1], ^p[2], ^p[3])
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
