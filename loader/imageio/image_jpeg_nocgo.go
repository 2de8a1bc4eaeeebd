//go:build !cgo

package imageio

// JPEG decoding needs libjpeg-turbo through cgo (see image_jpeg.go): there is
// no pure-Go decoder that reproduces Pillow's pixels. Building without cgo
// stops here with this message rather than with a missing-symbol error.
var _ = imageio_needs_cgo_for_libjpeg_build_with_CGO_ENABLED_1
