// Package imageio decodes images and turns them into model input the way
// Hugging Face's PIL-based DeiT/ViT image processors do, bit for bit.
//
// # Decoding as Pillow decodes
//
// Decode and Load return the RGB pixels that transformers' load_image
// (Image.open, ImageOps.exif_transpose, convert("RGB")) produces. JPEG is
// decoded by libjpeg-turbo, the library Pillow uses, through cgo and with
// Pillow's settings (image_jpeg.go). The package needs cgo and links
// libjpeg-turbo statically (libjpeg.a and headers: Debian's
// libjpeg62-turbo-dev), so programs need no libjpeg at run time and decode
// with the version they were built with. PNG, GIF, BMP,
// TIFF and WebP are decoded by Go decoders and converted with Pillow's
// rules. The golden files under testdata, written by testdata/gen_golden.py
// with Pillow 9.4, are matched with no differing byte after decoding and
// resizing, and no differing float32 bit after normalizing. The model thus
// gets the float32 input Hugging Face's processor makes, for JPEG as for PNG,
// and its logits are as close to HF's as the engine is (1e-5 relative L2).
//
// # Hostile input
//
// Load reads only regular files: named pipes, devices (also behind a
// symbolic link) and directories are refused without blocking. Decode and
// Load identify the format from the first bytes before reading on, read at
// most DecodeOptions.MaxBytes, and check the size in the header against
// DecodeOptions.MaxPixels (by default Pillow's error threshold, twice its
// MAX_IMAGE_PIXELS) before any
// pixel memory is allocated. A Budget shared by concurrent decodes bounds
// their total working memory (and, through LimitProcessMemory, the Go
// runtime's). A JPEG's scans may cost at most a fixed number of passes over
// its blocks, and DecodeContext and LoadContext stop libjpeg when their
// context ends. Truncated and corrupt files are errors, never crashes.
// ReadEncoded reads an image's bytes the way Decode does, for callers that
// decode later.
package imageio
