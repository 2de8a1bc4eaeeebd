//go:build unix

package checkpoint

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReadNotRegular checks that a FIFO, a device or a directory given as
// the weights is refused before open(2) could block on it.
func TestReadNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.safetensors")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	for _, tc := range []struct{ path, want string }{
		{fifo, "a named pipe (FIFO), not a regular file"},
		{"/dev/zero", "a character device, not a regular file"},
		{dir, "a directory, not a regular file"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Open(tc.path)
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, tc.path)
		case <-time.After(5 * time.Second):
			t.Fatalf("Open(%s) blocks", tc.path)
		}
	}
}
