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
//   - Unlike Pillow, files whose scans cost too much CPU time are refused:
//     more than jpegMaxScans scans, or scans that decode more than
//     jpegMaxPasses times the image's blocks (jpegMaxWork). libjpeg's
//     progress hook enforces both as it reads, and also stops the decode
//     when its context ends.
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

// jpg_dec is one decode: libjpeg's object, its error manager and progress
// hook, the limits the hook enforces, and where a fatal message goes.
typedef struct {
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr err;
	struct jpeg_progress_mgr progress;
	int max_scans;
	// Work bound: blocks decoded over all scans, counted by jpg_progress while
	// jpeg_start_decompress reads multi-scan files, against max_work.
	unsigned long long blocks;     // blocks in the image, all components
	unsigned long long work;       // blocks decoded so far
	unsigned long long max_work;
	int consuming;                 // set while jpeg_start_decompress reads the scans
	const int *cancel;             // nonzero when Go cancels the decode; read atomically
	jmp_buf jump;
	int finishing;  // set while jpeg_finish_decompress reads the trailing markers
	int code;       // libjpeg's message code of the failure, or a JPG_ code
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

// jpg_dec.code when jpg_progress stops a decode (libjpeg's codes are >= 0).
#define JPG_TOO_MANY_SCANS (-1)
#define JPG_TOO_MUCH_WORK (-2)
#define JPG_CANCELED (-3)

// jpg_progress runs before libjpeg reads each row of MCUs of a multi-scan
// file and before it outputs each scanline. It stops the decode when Go
// cancelled it, and stops files whose scans cost too much: more scans than
// max_scans, or more blocks decoded than max_work. (Each scan may cost a
// pass over every block of its components for a few bytes of data.) Before
// libjpeg decodes a row of MCUs of a scan, the blocks of that row of the
// scan's components are added to work.
static void jpg_progress(j_common_ptr cinfo) {
	jpg_dec *d = (jpg_dec *)cinfo->client_data;
	if (d->cancel != NULL && __atomic_load_n(d->cancel, __ATOMIC_RELAXED)) {
		d->code = JPG_CANCELED;
		snprintf(d->msg, sizeof d->msg, "canceled");
		longjmp(d->jump, 1);
	}
	if (d->cinfo.input_scan_number > d->max_scans) {
		d->code = JPG_TOO_MANY_SCANS;
		snprintf(d->msg, sizeof d->msg, "more than %d scans", d->max_scans);
		longjmp(d->jump, 1);
	}
	if (!d->consuming || d->cinfo.input_iMCU_row >= d->cinfo.total_iMCU_rows) {
		return;  // an output row, or the markers after a scan are read next
	}
	for (int i = 0; i < d->cinfo.comps_in_scan; i++) {
		jpeg_component_info *c = d->cinfo.cur_comp_info[i];
		d->work += (unsigned long long)c->width_in_blocks * c->v_samp_factor;
	}
	if (d->work > d->max_work) {
		d->code = JPG_TOO_MUCH_WORK;
		snprintf(d->msg, sizeof d->msg, "scans that decode more than %llu blocks", d->max_work);
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
	d->blocks = 0;
	for (int i = 0; i < d->cinfo.num_components; i++) {
		jpeg_component_info *c = &d->cinfo.comp_info[i];
		d->blocks += (unsigned long long)c->width_in_blocks * c->height_in_blocks;
	}
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
// files are read to the end here, decoding at most max_work blocks; cancel
// (pinned Go memory) stops the decode at the next row when it turns nonzero.
static int jpg_start(jpg_dec *d, int cmyk, long max_mem, unsigned long long max_work, const int *cancel) {
	if (setjmp(d->jump)) {
		d->consuming = 0;
		return -1;
	}
	d->cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	d->cinfo.mem->max_memory_to_use = max_mem;
	d->max_work = max_work;
	d->cancel = cancel;
	d->consuming = 1;
	jpeg_start_decompress(&d->cinfo);
	d->consuming = 0;
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

// jpg_free releases the decoder; the cancel flag is not touched (Go owns it).
static void jpg_free(jpg_dec *d) {
	jpeg_destroy_decompress(&d->cinfo);
	free(d);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// jpegDecoder is one libjpeg decode of an encoded image held in Go memory,
// pinned because libjpeg's memory source keeps a pointer to it between calls,
// and the flag that cancels it, pinned because libjpeg's progress hook reads
// it.
type jpegDecoder struct {
	c      *C.jpg_dec
	cancel *int32
	pin    runtime.Pinner
}

// jpegMaxScans bounds the scans of a JPEG. Encoders write one (baseline) to
// about a dozen (progressive); a hostile file can repeat scans that cost
// little data but a pass over every block of the image each, a CPU-time
// bomb Pillow does not guard against.
const jpegMaxScans = 500

// jpegMaxPasses and jpegMinWork bound the CPU time of the scans of a
// multi-scan JPEG relative to its size: all scans together may decode
// jpegMaxPasses times as many blocks as the image has (all components), or
// jpegMinWork blocks when that is more. Encoders' progressive scans decode
// each block about 5 times (libjpeg's default progression: 5.3 passes for
// 4:2:0 YCbCr, 6 for CMYK, measured on the golden files), so real files
// stay far below; a hostile file of a 9456×9456 image and 500 scans of a
// few bytes each, which took libjpeg 44 s, is stopped after 16 passes.
// jpegMinWork leaves small images their jpegMaxScans scans (4 Mi blocks are
// 500 passes over a 730×730 gray image, a fraction of a second).
const (
	jpegMaxPasses = 16
	jpegMinWork   = 4 << 20
)

// jpegMaxWork is the bound on the blocks the scans of an image of blocks
// blocks may decode (see jpegMaxPasses).
func jpegMaxWork(blocks int64) int64 {
	return max(jpegMaxPasses*blocks, jpegMinWork)
}

// newJPEGDecoder reads the header of data (not empty). The caller must close
// the decoder.
func newJPEGDecoder(data []byte) (*jpegDecoder, error) {
	c := C.jpg_new(jpegMaxScans)
	if c == nil {
		return nil, errors.New("libjpeg: out of memory")
	}
	d := &jpegDecoder{c: c, cancel: new(int32)}
	d.pin.Pin(&data[0])
	d.pin.Pin(d.cancel)
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
	case C.JPG_CANCELED:
		return context.Canceled // decodeJPEG returns its context's error instead
	case C.JPG_TOO_MANY_SCANS:
		return fmt.Errorf("%w: JPEG with %s", ErrTooLarge, msg)
	case C.JPG_TOO_MUCH_WORK:
		return fmt.Errorf("%w: JPEG with %s, %d passes over its %d (a CPU-time bomb)",
			ErrTooLarge, msg, int64(d.c.max_work)/max(int64(d.c.blocks), 1), int64(d.c.blocks))
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
	// blocks is the number of 8×8 blocks of all components.
	blocks int64
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
		blocks: int64(d.c.blocks), coefBytes: int64(d.c.coef_bytes)}
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
// this file). ctx ending stops libjpeg within a row of blocks or pixels, and
// decodeJPEG then returns ctx.Err().
func decodeJPEG(ctx context.Context, data []byte) (img *Image, err error) {
	d, err := newJPEGDecoder(data)
	if err != nil {
		return nil, err
	}
	defer d.close()
	if ctx.Err() != nil {
		atomic.StoreInt32(d.cancel, 1)
	}
	stop := context.AfterFunc(ctx, func() { atomic.StoreInt32(d.cancel, 1) })
	defer stop()
	defer func() {
		if d.c.code == C.JPG_CANCELED {
			img, err = nil, ctx.Err()
		}
	}()
	h, err := d.header()
	if err != nil {
		return nil, err
	}
	cmyk := h.components == 4
	if C.jpg_start(d.c, C.int(boolInt(cmyk)), C.long(jpegWorkBytes(h)), C.ulonglong(jpegMaxWork(h.blocks)),
		(*C.int)(unsafe.Pointer(d.cancel))) != 0 {
		return nil, d.err()
	}
	if w, ht := int(d.c.cinfo.output_width), int(d.c.cinfo.output_height); w != h.w || ht != h.h {
		return nil, fmt.Errorf("%w: JPEG output %dx%d for a %dx%d image", ErrCorruptImage, w, ht, h.w, h.h)
	}
	img = &Image{W: h.w, H: h.h, Pix: make([]uint8, 3*h.w*h.h)}
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
