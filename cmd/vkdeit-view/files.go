package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/loader/imageio"
)

// maxImages bounds a folder's listing: the viewer keeps every name in
// memory, so a folder of more images is refused rather than read whole.
const maxImages = 1 << 20

// images returns what the viewer steps through for its argument: the
// images of a folder (files with an image extension, sorted by name), or
// for a file the images of its folder with the position of the file (which
// is listed even without an image extension: it was asked for).
func images(arg string) (files []string, pos int, err error) {
	st, err := os.Stat(arg)
	if err != nil {
		return nil, 0, err
	}
	dir, file := arg, ""
	if !st.IsDir() {
		dir, file = filepath.Dir(arg), filepath.Clean(arg)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.Type().IsRegular() && imageio.HasImageExt(e.Name()) || p == file {
			if len(files) == maxImages {
				return nil, 0, fmt.Errorf("%s: more than %d images", dir, maxImages)
			}
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, 0, fmt.Errorf("%s: no images (looked for %s)", dir, strings.Join(imageio.Extensions(), " "))
	}
	slices.Sort(files)
	if file != "" {
		pos = slices.Index(files, file)
	}
	return files, pos, nil
}

// stamp identifies a version of a file: the viewer classifies a file again
// when its stamp changes.
type stamp struct {
	mod  time.Time
	size int64
}

// stampOf stats path; a file that cannot be stat'ed has the zero stamp (it
// is reported when the viewer tries to read it).
func stampOf(path string) stamp {
	st, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{mod: st.ModTime(), size: st.Size()}
}
