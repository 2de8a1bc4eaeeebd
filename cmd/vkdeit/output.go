package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// checkedWriter remembers the first write error, so that output lost to a
// full disk or a closed pipe turns into a failure even where the command
// did not check (fmt.Fprintf's error is easy to drop).
type checkedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	name string // what is written, for errors: "output" (stdout) when empty
	err  error
}

// Write implements io.Writer; after a failure it writes nothing more.
func (c *checkedWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		name := c.name
		if name == "" {
			name = "output"
		}
		c.err = fmt.Errorf("writing %s: %w", name, bareErr(err))
	}
	return n, c.err
}

// Err is the first write error, or nil.
func (c *checkedWriter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// outputFile is where a command's results go: stdout, or with --output a
// file. A regular file (new, or existing, also through symbolic links) is
// written atomically: a temporary file beside the link's final target is
// renamed over it, so that a reader never sees half a file and an
// interrupted or failed run leaves none behind (nor replaces an older one);
// the link stays a link, and the file keeps its permissions (a new one gets
// 0666 less the umask, as the shell's ">" gives). Anything else that exists
// — a device such as /dev/null, a named pipe, /dev/stdout and the other
// names of this process's open files under /proc — is opened and written
// directly, never replaced (a regular file so named is appended to, as the
// shell opened it: "> log" truncated it already, ">> log" appends).
type outputFile struct {
	io.Writer
	f      *os.File // the temporary file, or the file written directly; nil for stdout
	path   string   // as the user named it
	target string   // where the temporary file goes; "" when written directly
	remove func()   // unregisters the signal cleanup
}

// openOutput returns stdout when path is "" or "-", else the file path as
// outputFile describes it. Errors name path (never the temporary file).
func openOutput(e *env, path string) (*outputFile, error) {
	if path == "" || path == "-" {
		return &outputFile{Writer: e.stdout}, nil
	}
	t, err := outputTargetOf(path)
	if err != nil {
		return nil, fmt.Errorf("--output %s: %w", displayName(path), err)
	}
	return t.open(e, path)
}

// openSeekableOutput is openOutput for writers that rewrite a header at
// the end (npy): path must be a regular file, or none yet.
func openSeekableOutput(e *env, path string) (*outputFile, error) {
	t, err := outputTargetOf(path)
	if err != nil {
		return nil, fmt.Errorf("--output %s: %w", displayName(path), err)
	}
	if t.direct {
		return nil, fmt.Errorf("--output %s: %s, not a regular file: this format rewrites its header at the end",
			displayName(path), regfile.Describe(t.mode))
	}
	return t.open(e, path)
}

// outputTarget is what --output PATH names.
type outputTarget struct {
	// direct: PATH exists and is no regular file, or is one of this
	// process's open files: it is opened as it is (appended to when
	// regular), never created, truncated or replaced.
	direct bool
	mode   fs.FileMode // PATH's mode when it exists (after links)
	// final is PATH with its symbolic links followed, where the temporary
	// file is renamed to; it need not exist.
	final  string
	exists bool
}

// maxLinks bounds the symbolic links followed, as the kernel's ELOOP does.
const maxLinks = 40

// outputTargetOf looks at path without changing anything.
func outputTargetOf(path string) (outputTarget, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return outputTarget{}, errors.New("is a directory")
	case err == nil && !fi.Mode().IsRegular():
		return outputTarget{direct: true, mode: fi.Mode()}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return outputTarget{}, bareErr(err)
	}
	t := outputTarget{final: path, exists: err == nil}
	if t.exists {
		t.mode = fi.Mode()
	}
	for range maxLinks {
		li, err := os.Lstat(t.final)
		if errors.Is(err, fs.ErrNotExist) {
			return t, nil // a new file, or a dangling link's target
		}
		if err != nil {
			return outputTarget{}, bareErr(err)
		}
		if li.Mode()&fs.ModeSymlink == 0 {
			return t, nil
		}
		if inProc(filepath.Dir(t.final)) {
			// /dev/stdout, /dev/fd/N: one of this process's open files,
			// which the shell may have opened to append.
			t.direct = true
			return t, nil
		}
		to, err := os.Readlink(t.final)
		if err != nil {
			return outputTarget{}, bareErr(err)
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(t.final), to)
		}
		t.final = to
	}
	return outputTarget{}, fmt.Errorf("more than %d symbolic links", maxLinks)
}

// inProc reports whether dir is (after links) in /proc, whose links name
// open files rather than paths.
func inProc(dir string) bool {
	real, err := filepath.EvalSymlinks(dir)
	return err == nil && (real == "/proc" || strings.HasPrefix(real, "/proc/"))
}

// open opens the target for path (see outputFile).
func (t outputTarget) open(e *env, path string) (*outputFile, error) {
	name := displayName(path)
	if t.direct {
		flags := os.O_WRONLY
		if t.mode.IsRegular() {
			// An open file of this process (-o /dev/stdout >> log): the
			// shell truncated it already, or means it to be appended to.
			flags |= os.O_APPEND
		}
		f, err := os.OpenFile(path, flags, 0)
		if err != nil {
			return nil, fmt.Errorf("--output %s: %w", name, bareErr(err))
		}
		o := &outputFile{Writer: &checkedWriter{w: f, name: name}, f: f, path: path}
		o.remove = e.atExit(func() { f.Close() }) // never removed: it is not ours
		return o, nil
	}
	perm := fs.FileMode(0o666) // less the umask, applied by open(2)
	if t.exists {
		perm = t.mode.Perm()
	}
	f, err := createTemp(filepath.Dir(t.final), filepath.Base(t.final), perm, t.exists)
	if err != nil {
		return nil, fmt.Errorf("--output %s: creating a file in %s: %w", name, displayName(filepath.Dir(t.final)), err)
	}
	o := &outputFile{Writer: &checkedWriter{w: f, name: name}, f: f, path: path, target: t.final}
	o.remove = e.atExit(func() { f.Close(); os.Remove(f.Name()) })
	return o, nil
}

// createTemp creates a new file in dir named after base. Its permissions
// are perm: exactly (exact, for a file it replaces), or less the umask.
func createTemp(dir, base string, perm fs.FileMode, exact bool) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+"."+rand.Text()[:10]+".tmp")
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, bareErr(err)
		}
		if exact {
			if err := f.Chmod(perm); err != nil {
				f.Close()
				os.Remove(name)
				return nil, bareErr(err)
			}
		}
		return f, nil
	}
	return nil, errors.New("no free temporary file name")
}

// Seeker is the file, for writers that rewrite a header at the end (npy,
// after openSeekableOutput); nil for stdout. Its errors name no file: the
// caller names the output.
func (o *outputFile) Seeker() io.WriteSeeker {
	if o.f == nil {
		return nil
	}
	return seekWriter{o.f}
}

// seekWriter is a file whose errors do not name it (a temporary file).
type seekWriter struct{ f *os.File }

func (s seekWriter) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	return n, bareErr(err)
}

func (s seekWriter) Seek(offset int64, whence int) (int64, error) {
	n, err := s.f.Seek(offset, whence)
	return n, bareErr(err)
}

// Commit makes the file visible under its name (a no-op for stdout) and
// reports a write that failed before.
func (o *outputFile) Commit() error {
	if o.f == nil {
		return nil
	}
	err := o.Writer.(*checkedWriter).Err()
	if cerr := o.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", displayName(o.path), bareErr(cerr))
	}
	if err == nil && o.target != "" {
		if rerr := os.Rename(o.f.Name(), o.target); rerr != nil {
			err = fmt.Errorf("%s: %w", displayName(o.path), bareErr(rerr))
		}
	}
	if err != nil && o.target != "" {
		os.Remove(o.f.Name())
	}
	o.remove()
	o.f = nil
	return err
}

// Discard removes the temporary file (after an error), or closes the file
// written directly; Commit or Discard, whichever comes first, wins.
func (o *outputFile) Discard() {
	if o.f == nil {
		return
	}
	o.f.Close()
	if o.target != "" {
		os.Remove(o.f.Name())
	}
	o.remove()
	o.f = nil
}

// bareErr strips the operation and path from an *fs.PathError or
// *os.LinkError (which name temporary files, or repeat the path the caller
// names), keeping what errors.Is sees; nil stays nil.
func bareErr(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// formatByExt maps --output extensions to the format they mean.
var formatByExt = map[string]string{".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".npy": "npy"}

// outputFormat is the format to write: --format when given (explicit),
// else the one the --output file's extension names (results.csv: csv,
// emb.npy: npy), else def. A --format that contradicts the extension, or
// an extension naming a format cmd cannot write, is a usage error rather
// than a file that its extension misdescribes. Unknown extensions (.txt,
// none) take the format as it is.
func outputFormat(cmd, output, format string, explicit bool, formats ...string) (string, error) {
	extFormat := ""
	if output != "" && output != "-" {
		ext := strings.ToLower(filepath.Ext(output))
		if f, ok := formatByExt[ext]; ok {
			extFormat = f
			if !slices.Contains(formats, f) {
				return "", usagef("%s: --output %s: %s cannot write %s files (formats: %s)",
					cmd, displayName(output), cmd, ext, strings.Join(formats, ", "))
			}
		}
	}
	switch {
	case explicit && extFormat != "" && format != extFormat:
		return "", usagef("%s: --output %s names a %s file but --format is %s: drop --format or rename the file",
			cmd, displayName(output), extFormat, format)
	case !explicit && extFormat != "":
		format = extFormat
	}
	if !slices.Contains(formats, format) {
		return "", usagef("%s: --format must be %s, not %q", cmd, orList(formats), format)
	}
	return format, nil
}

// orList joins "a", "b", "c" as "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}
