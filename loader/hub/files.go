package hub

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// Every file the hub package opens for reading is checked to be a regular
// file first (after following symlinks, as the cache's snapshots need): a
// FIFO or a device would block open(2) or never end, and a directory or
// socket is never what a model path means.

// describeMode names the type of a non-regular file for error messages.
func describeMode(mode fs.FileMode) string { return regfile.Describe(mode) }

// openRegular opens path for reading if it is a regular file (see package regfile).
func openRegular(path string) (*os.File, error) {
	f, _, err := regfile.Open(path)
	return f, err
}

// readRegular reads the regular file path, which may hold at most limit bytes.
func readRegular(path string, limit int64) ([]byte, error) { return regfile.ReadFile(path, limit) }

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
