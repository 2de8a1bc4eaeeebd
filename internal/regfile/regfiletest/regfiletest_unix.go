//go:build unix

package regfiletest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile"
)

// Want says what the opener under test accepts and how it refuses.
type Want struct {
	// Name is the base name of the files the cases create ("config.json",
	// "model.safetensors", "photo.jpg"): an opener that looks at the name
	// sees the one it expects. Empty means "file".
	Name string
	// Limit, when positive, is the largest size the opener accepts: a
	// (sparse) file of Limit+1 bytes must be refused before it is read.
	Limit int64
	// TooLarge is the text the error for the Limit+1 file must contain;
	// empty means regfile.ReadFile's "more than the <Limit> expected".
	TooLarge string
	// Accept, when not nil, is content the opener must accept, both as a
	// regular file and through a symbolic link to it: the control that
	// shows the refusals come from the file's kind, not from the opener
	// refusing everything.
	Accept []byte

	timeout time.Duration // DefaultTimeout when zero (tests of this package shorten it)
}

// RequireRefused calls open on a named pipe, a directory, /dev/null, a
// symbolic link to /dev/zero and, when want.Limit is set, a file of
// want.Limit+1 bytes, and fails t unless each call returns, within
// DefaultTimeout, an error that wraps regfile.ErrNotRegular and reads
// "<path>: <what it is>, not a regular file" (for the large file: names the
// path and contains want.TooLarge). With want.Accept it first checks that a
// regular file and a symbolic link to one are accepted.
//
// open should return the error of the opener under test as its callers see
// it (wrapped in whatever context the package adds).
func RequireRefused(t testing.TB, open func(path string) error, want Want) {
	t.Helper()
	if want.Name == "" {
		want.Name = "file"
	}
	if want.timeout == 0 {
		want.timeout = DefaultTimeout
	}
	root := t.TempDir()
	// mk makes the directory root/kind and returns the path kind/Name in it.
	mk := func(kind string) string {
		d := filepath.Join(root, kind)
		require.NoError(t, os.Mkdir(d, 0o755))
		return filepath.Join(d, want.Name)
	}

	if want.Accept != nil {
		regular := mk("regular")
		require.NoError(t, os.WriteFile(regular, want.Accept, 0o644))
		link := mk("link")
		require.NoError(t, os.Symlink(regular, link))
		for _, p := range []string{regular, link} {
			require.NoError(t, call(t, open, p, "", want.timeout), "a regular file must be accepted")
		}
	}

	fifo := mk("fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	dir := mk("dir")
	require.NoError(t, os.Mkdir(dir, 0o755))
	zero := mk("zero")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	cases := []struct{ path, what string }{
		{fifo, "a named pipe (FIFO)"},
		{dir, "a directory"},
		{zero, "a character device"},
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		cases = append(cases, struct{ path, what string }{"/dev/null", "a character device"})
	}
	for _, c := range cases {
		err := call(t, open, c.path, fifo, want.timeout)
		require.ErrorIs(t, err, regfile.ErrNotRegular, "%s (%s)", c.path, c.what)
		require.ErrorContains(t, err, c.path+": "+c.what+", not a regular file")
	}

	if want.Limit > 0 {
		huge := mk("huge")
		require.NoError(t, os.WriteFile(huge, []byte("{"), 0o644))
		require.NoError(t, os.Truncate(huge, want.Limit+1)) // sparse: nothing is written
		tooLarge := want.TooLarge
		if tooLarge == "" {
			tooLarge = fmt.Sprintf("more than the %d expected", want.Limit)
		}
		err := call(t, open, huge, "", want.timeout)
		require.ErrorContains(t, err, huge, "a file of Limit+1 bytes must be refused")
		require.ErrorContains(t, err, tooLarge)
		require.False(t, errors.Is(err, regfile.ErrNotRegular), "a large regular file is not %v", regfile.ErrNotRegular)
	}
}

// call runs open(path) under Within. If it blocks, fifo (when not empty) is
// opened for writing and closed, which ends a reader blocked on it, so the
// goroutine does not outlive the failed test.
func call(t testing.TB, open func(string) error, path, fifo string, d time.Duration) error {
	t.Helper()
	var err error
	if !within(d, func() { err = open(path) }) {
		if fifo != "" {
			if w, werr := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
				w.Close()
			}
		}
		t.Fatalf("opening %s: still blocked after %v", path, d)
	}
	return err
}
