package hub

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
)

// Every file the hub package opens for reading is checked to be a regular
// file first (after following symlinks, as the cache's snapshots need): a
// FIFO or a device would block open(2) or never end, and a directory or
// socket is never what a model path means.

// errNotRegular is wrapped by the errors of openRegular and fileIn.
var errNotRegular = errors.New("not a regular file")

// notRegularError says what kind of file path is instead.
func notRegularError(path string, mode fs.FileMode) error {
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: %s", errNotRegular, describeMode(mode))}
}

// describeMode names the type of a non-regular file for error messages.
func describeMode(mode fs.FileMode) string {
	switch t := mode.Type(); {
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
	case t&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}

// openRegular opens path for reading if it is a regular file. The open is
// non-blocking where the platform has it and the opened file is checked
// again, so a file swapped for a FIFO in between cannot hang it either.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegularError(path, st.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, err
	}
	fst, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fst.Mode().IsRegular() {
		f.Close()
		return nil, notRegularError(path, fst.Mode())
	}
	return f, nil
}

// readRegular reads the regular file path, which may hold at most limit
// bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes expected", path, limit)
	}
	return b, nil
}

// quoteShort quotes s, which came from a file or a server, for an error
// message: control characters and invalid UTF-8 escaped, and at most 64
// bytes of it shown.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// localError marks a failure of the local file system (ENOSPC, EDQUOT,
// EROFS, a permission): retrying the download cannot fix it.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// local wraps a non-nil err as a localError.
func local(err error) error {
	if err == nil {
		return nil
	}
	return &localError{err}
}

// localWriter tags every write error of w as a localError, so that a full
// disk met inside io.Copy is not mistaken for a network failure.
type localWriter struct{ w io.Writer }

func (l localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	return n, local(err)
}
