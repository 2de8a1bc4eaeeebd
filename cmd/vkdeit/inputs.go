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
// directories walked recursively for image extensions (in lexical order,
// see walkImages), and "-" for standard input (read here as imageio reads
// an image: its first bytes must name a format, and at most
// imageio.DefaultMaxBytes). Problems (a missing path, an unreadable
// directory) come back as errors naming the path (a URL's suggests piping
// it, urlError); the other arguments still expand. warnings are harmless
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
			if isURL(a) && errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("%s: %w", displayName(a), &urlError{url: a, cmd: "classify"}))
				continue
			}
			errs = append(errs, fmtPathErr(a, err))
			continue
		}
		if !st.IsDir() {
			ins = append(ins, classify.Input{Path: a})
			continue
		}
		found := 0
		walkImages(a, func(p string) {
			ins = append(ins, classify.Input{Path: p})
			found++
		}, func(err error) { errs = append(errs, err) }, func(w string) { warnings = append(warnings, w) })
		if found == 0 {
			warnings = append(warnings, fmt.Sprintf("%s: no image files (%s) in this directory", a,
				strings.Join(imageio.Extensions(), " ")))
		}
	}
	return ins, errs, warnings
}

// walkImages calls visit for each image file under root, depth first in
// lexical order, as filepath.WalkDir would, except that:
//
//   - hidden files and directories (".*", macOS's "._*" AppleDouble files
//     among them) are skipped, as ls and shell globs skip them;
//   - symbolic links to directories are followed, each real directory
//     walked once: a link back into what is being walked (a loop) or to a
//     directory already walked is not followed, with a warning;
//   - broken symbolic links are skipped.
//
// Unreadable directories are reported through errf and skipped.
func walkImages(root string, visit func(path string), errf func(error), warnf func(string)) {
	seen := map[string]string{} // real directory → the path it was walked as
	var walk func(dir string)
	walk = func(dir string) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			errf(fmtPathErr(dir, err))
			return
		}
		if first, ok := seen[real]; ok {
			warnf(fmt.Sprintf("%s: symbolic link to %s, which is walked already as %s: not followed again",
				displayName(dir), displayName(real), displayName(first)))
			return
		}
		seen[real] = dir
		entries, err := os.ReadDir(dir)
		if err != nil {
			errf(fmtPathErr(dir, err))
		}
		for _, d := range entries {
			if strings.HasPrefix(d.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, d.Name())
			switch {
			case d.IsDir():
				walk(p)
				continue
			case d.Type()&fs.ModeSymlink != 0:
				st, err := os.Stat(p)
				if err != nil {
					continue // a broken link
				}
				if st.IsDir() {
					walk(p)
					continue
				}
			}
			if imageio.HasImageExt(p) {
				visit(p)
			}
		}
	}
	walk(root)
}

// urlError is a command-line path that does not exist and is a URL: vkdeit
// reads files, and says how to pipe the URL's body in instead.
type urlError struct {
	url string
	cmd string // the command to pipe into
}

func (e *urlError) Error() string {
	return fmt.Sprintf("no such file: vkdeit reads local files, not URLs; pipe it to standard input: curl -sL '%s' | vkdeit %s -",
		strings.ReplaceAll(e.url, "'", `'\''`), e.cmd)
}

// forCommand returns errs with each urlError's suggestion naming cmd.
func forCommand(errs []error, cmd string) []error {
	for i, err := range errs {
		if ue := (*urlError)(nil); errors.As(err, &ue) {
			errs[i] = fmt.Errorf("%s: %w", displayName(ue.url), &urlError{url: ue.url, cmd: cmd})
		}
	}
	return errs
}

// isURL reports whether arg names a resource by a URL scheme such as
// https://, rather than a path.
func isURL(arg string) bool {
	scheme, rest, ok := strings.Cut(arg, "://")
	if !ok || scheme == "" || rest == "" {
		return false
	}
	for _, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
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
