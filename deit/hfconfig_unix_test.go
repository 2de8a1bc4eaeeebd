//go:build unix

package deit

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReadConfigNotRegular checks that a config.json that is a FIFO or a
// directory is refused without blocking, and a huge one without reading it.
func TestReadConfigNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	huge := filepath.Join(dir, "huge.json")
	require.NoError(t, os.WriteFile(huge, []byte("{"), 0o644))
	require.NoError(t, os.Truncate(huge, maxConfigBytes+1)) // sparse
	for _, tc := range []struct{ path, want string }{
		{fifo, "a named pipe (FIFO), not a regular file"},
		{dir, "a directory, not a regular file"},
		{huge, "more than the 16777216 expected"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := ReadHFConfig(tc.path)
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, tc.path)
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadHFConfig(%s) blocks", tc.path)
		}
	}
}
