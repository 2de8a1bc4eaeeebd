//go:build unix

package imageio

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Load refuses what is not a regular file without opening it for reading:
// a named pipe (opening one blocks until a writer comes), a device, also
// behind a symbolic link (/dev/zero never ends), a directory.
func TestImageLoadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.jpg")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	zero := filepath.Join(dir, "zero.jpg")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	regular := filepath.Join(dir, "real.jpg")
	data, err := os.ReadFile(filepath.Join(goldenDir, "q90_420.jpg"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(regular, data, 0o644))
	link := filepath.Join(dir, "link.jpg")
	require.NoError(t, os.Symlink(regular, link))

	cases := []struct {
		path, msg string
	}{
		{fifo, "a named pipe (FIFO), not a regular file"},
		{zero, "a character device, not a regular file"},
		{"/dev/null", "a character device, not a regular file"},
		{dir, "a directory, not a regular file"},
		{filepath.Join(dir, "missing.jpg"), "no such file or directory"},
		{link, ""},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := Load(c.path, DecodeOptions{})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Load(%s) blocked", c.path)
			}
			if c.msg == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.path+": "+c.msg)
		})
	}
}
