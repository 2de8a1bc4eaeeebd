// Package regfile opens files that must be regular files — weights,
// configs, images, cache entries — so that a named pipe never blocks
// open(2), a device such as /dev/zero never streams forever and a
// directory is never read as an empty file: the path is checked before it
// is opened, opened without blocking where the platform allows, and the
// opened file is checked again (a file swapped for a pipe in between is
// caught too).
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the errors for paths that are not regular
// files (after following symbolic links).
var ErrNotRegular = errors.New("not a regular file")

// notRegular describes what a path is instead.
type notRegular struct{ mode fs.FileMode }

func (e *notRegular) Error() string { return Describe(e.mode) + ", not a regular file" }

func (e *notRegular) Unwrap() error { return ErrNotRegular }

// Describe names the kind of file mode has, for messages: "a directory",
// "a named pipe (FIFO)", "a character device", …
func Describe(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// Check returns an *fs.PathError wrapping ErrNotRegular when fi is not a
// regular file, else nil.
func Check(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return &fs.PathError{Op: "open", Path: path, Err: &notRegular{fi.Mode()}}
}

// Open opens path for reading if it is a regular file and returns it with
// its FileInfo (taken from the opened file). Errors are *fs.PathError.
func Open(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := Check(path, fi); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|NonBlock, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err == nil {
		err = Check(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// ReadFile reads the regular file path, refusing one of more than limit
// bytes before and while reading it.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d expected", path, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes expected", path, limit)
	}
	return b, nil
}
