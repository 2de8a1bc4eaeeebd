/*
 * mkjpeg encodes raw pixels from stdin as a JPEG on stdout with libjpeg, for
 * the variants Pillow cannot write: gen_golden.py runs it to make test inputs
 * (the expected pixels still come from Pillow decoding them).
 *
 *   mkjpeg VARIANT WIDTH HEIGHT < pixels > out.jpg
 *
 * VARIANT   input     file
 * ycck      CMYK      4 components, Adobe marker with transform 2 (YCCK)
 * rgb       RGB       3 components stored as RGB (Adobe transform 0)
 * s411      RGB       YCbCr, chroma subsampled 4x1
 * s440      RGB       YCbCr, chroma subsampled 1x2
 * arith     RGB       YCbCr 4:2:0, arithmetic coding
 * restart   RGB       YCbCr 4:2:0, a restart marker after every MCU
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: mkjpeg VARIANT WIDTH HEIGHT < pixels > out.jpg\n");
		return 2;
	}
	const char *v = argv[1];
	int w = atoi(argv[2]), h = atoi(argv[3]);
	int comps = strcmp(v, "ycck") == 0 ? 4 : 3;
	size_t n = (size_t)w * h * comps;
	unsigned char *pix = malloc(n);
	if (w <= 0 || h <= 0 || pix == NULL || fread(pix, 1, n, stdin) != n) {
		fprintf(stderr, "mkjpeg: need %zu bytes of pixels on stdin\n", n);
		return 1;
	}

	struct jpeg_compress_struct c;
	struct jpeg_error_mgr err;
	c.err = jpeg_std_error(&err);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, stdout);
	c.image_width = w;
	c.image_height = h;
	c.input_components = comps;
	c.in_color_space = comps == 4 ? JCS_CMYK : JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 90, TRUE);
	if (strcmp(v, "ycck") == 0) {
		jpeg_set_colorspace(&c, JCS_YCCK);
	} else if (strcmp(v, "rgb") == 0) {
		jpeg_set_colorspace(&c, JCS_RGB);
	} else if (strcmp(v, "s411") == 0) {
		c.comp_info[0].h_samp_factor = 4;
		c.comp_info[0].v_samp_factor = 1;
	} else if (strcmp(v, "s440") == 0) {
		c.comp_info[0].h_samp_factor = 1;
		c.comp_info[0].v_samp_factor = 2;
	} else if (strcmp(v, "arith") == 0) {
		c.arith_code = TRUE;
	} else if (strcmp(v, "restart") == 0) {
		c.restart_interval = 1;
	} else {
		fprintf(stderr, "mkjpeg: unknown variant %s\n", v);
		return 2;
	}
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = pix + (size_t)c.next_scanline * w * comps;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(pix);
	return 0;
}
