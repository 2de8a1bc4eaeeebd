package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// imageExts are the file extensions picked up when walking a directory.
// Files named explicitly are tried whatever their extension.
var imageExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true,
	".tif": true, ".tiff": true, ".webp": true,
}

// input is one image to classify.
type input struct {
	name string // as shown in the output: the path, or "-" for stdin
	path string // file to read; "" for stdin
	data []byte // stdin's contents
}

// expandInputs turns command-line arguments into images: files as given,
// directories walked recursively for image extensions (in lexical order), and
// "-" for standard input. Problems (a missing path, an unreadable directory)
// come back as errors naming the path; the other arguments still expand.
// warnings are harmless notes such as a directory without images.
func expandInputs(args []string, stdin io.Reader) (ins []input, errs []error, warnings []string) {
	stdinUsed := false
	for _, a := range args {
		if a == "-" {
			if stdinUsed {
				errs = append(errs, errors.New("-: standard input given more than once"))
				continue
			}
			stdinUsed = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				errs = append(errs, fmt.Errorf("-: reading standard input: %w", err))
				continue
			}
			ins = append(ins, input{name: "-", data: data})
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			errs = append(errs, fmtPathErr(a, err))
			continue
		}
		if !st.IsDir() {
			ins = append(ins, input{name: a, path: a})
			continue
		}
		found := 0
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmtPathErr(p, err))
				if d != nil && d.IsDir() && p != a {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !imageExts[strings.ToLower(filepath.Ext(p))] {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if st, err := os.Stat(p); err != nil || st.IsDir() {
					return nil // broken link or link to a directory: not an image file
				}
			}
			ins = append(ins, input{name: p, path: p})
			found++
			return nil
		})
		if err != nil {
			errs = append(errs, fmtPathErr(a, err))
		}
		if found == 0 {
			warnings = append(warnings, fmt.Sprintf("%s: no image files (jpg, jpeg, png, gif, bmp, tif, tiff, webp) in this directory", a))
		}
	}
	return ins, errs, warnings
}

// fmtPathErr formats err for path without repeating the path when the error
// (an *fs.PathError, say) already names it.
func fmtPathErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe.Err)
	}
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}
