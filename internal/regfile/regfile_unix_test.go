//go:build unix

package regfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// within fails the test if f does not return within d (a blocked open).
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("blocked")
	}
}

func TestOpenAndReadFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.json")
	require.NoError(t, os.WriteFile(file, []byte("hello"), 0o644))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(file, link))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	zero := filepath.Join(dir, "zero")
	require.NoError(t, os.Symlink("/dev/zero", zero))

	b, err := ReadFile(link, 5)
	require.NoError(t, err)
	require.Equal(t, "hello", string(b))
	_, err = ReadFile(file, 4)
	require.ErrorContains(t, err, "5 bytes, more than the 4 expected")

	for _, tc := range []struct{ path, what string }{
		{dir, "a directory, not a regular file"},
		{fifo, "a named pipe (FIFO), not a regular file"},
		{zero, "a character device, not a regular file"},
	} {
		within(t, 5*time.Second, func() { _, _, err = Open(tc.path) })
		require.ErrorIs(t, err, ErrNotRegular, tc.path)
		require.ErrorContains(t, err, tc.what)
		var pe *fs.PathError
		require.True(t, errors.As(err, &pe))
		require.Equal(t, tc.path, pe.Path)
	}
	_, _, err = Open(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Equal(t, "a regular file", Describe(0))
}
