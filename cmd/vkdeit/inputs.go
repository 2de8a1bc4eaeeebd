package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// stdinName is how standard input ("-") is named in results.
const stdinName = "-"

// expandInputs turns command-line arguments into images: files as given,
// directories walked recursively for image extensions (in lexical order), and
// "-" for standard input (read here as imageio reads an image: its first
// bytes must name a format, and at most imageio.DefaultMaxBytes).
// Problems (a missing path, an unreadable directory) come back as errors
// naming the path; the other arguments still expand. warnings are harmless
// notes such as a directory without images.
func expandInputs(args []string, stdin io.Reader) (ins []classify.Input, errs []error, warnings []string) {
	stdinUsed := false
	for _, a := range args {
		if a == stdinName {
			if stdinUsed {
				errs = append(errs, errors.New("-: standard input given more than once"))
				continue
			}
			stdinUsed = true
			data, err := imageio.ReadEncoded(stdin, imageio.DecodeOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("-: standard input: %w", err))
				continue
			}
			ins = append(ins, classify.Input{Name: stdinName, Data: data})
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			errs = append(errs, fmtPathErr(a, err))
			continue
		}
		if !st.IsDir() {
			ins = append(ins, classify.Input{Path: a})
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
			if d.IsDir() || !imageio.HasImageExt(p) {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if st, err := os.Stat(p); err != nil || st.IsDir() {
					return nil // broken link or link to a directory: not an image file
				}
			}
			ins = append(ins, classify.Input{Path: p})
			found++
			return nil
		})
		if err != nil {
			errs = append(errs, fmtPathErr(a, err))
		}
		if found == 0 {
			warnings = append(warnings, fmt.Sprintf("%s: no image files (%s) in this directory", a,
				strings.Join(imageio.Extensions(), " ")))
		}
	}
	return ins, errs, warnings
}

// fmtPathErr formats err for path without repeating the path when the error
// (an *fs.PathError, say) already names it.
func fmtPathErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", displayName(path), pe.Err)
	}
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", displayName(path), err)
}

// displayName is a path as vkdeit prints it: quoted in Go syntax when it
// holds control characters (a newline in a file name must not break a
// table or a log line), as is otherwise.
func displayName(p string) string {
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return strconv.Quote(p)
		}
	}
	return p
}

// errText is an input's error as a line of stderr: the input's name, which
// the error holds as it is, quoted as displayName quotes it, so that a
// newline in a file name cannot forge or split a line. An image over the
// pixel limit names the flag that raises it.
func errText(err error, name string) string {
	s := err.Error()
	if q := displayName(name); q != name {
		s = strings.ReplaceAll(s, name, q)
	}
	if pl := (*imageio.PixelLimitError)(nil); errors.As(err, &pl) {
		s += " (--max-pixels raises the limit)"
	}
	return s
}

// inputName is how results name an input: its path, or "-" for stdin.
func inputName(in classify.Input) string {
	if in.Name != "" {
		return in.Name
	}
	return in.Path
}
