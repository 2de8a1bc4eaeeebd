package imageio

import (
	"path/filepath"
	"slices"
	"strings"
)

// extensions are the file name extensions of the formats Decode reads
// (JPEG's as Pillow registers them: .jpg, .jpeg, .jpe, .jfif).
var extensions = []string{".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}

// Extensions lists the file name extensions (lower case, with the dot) of
// the formats this package decodes: what a program should pick up when it
// walks a directory for images. Decode itself goes by content, not name.
func Extensions() []string { return slices.Clone(extensions) }

// HasImageExt reports whether path ends in one of Extensions, in any case.
func HasImageExt(path string) bool {
	return slices.Contains(extensions, strings.ToLower(filepath.Ext(path)))
}
