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

// TestReadPreprocessorNotRegular checks that a preprocessor_config.json that
// is a FIFO or a directory is an error (not the defaults), without blocking,
// and that a huge one is not read.
func TestReadPreprocessorNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	huge := filepath.Join(dir, "huge.json")
	require.NoError(t, os.WriteFile(huge, []byte("{"), 0o644))
	require.NoError(t, os.Truncate(huge, maxPreprocessorBytes+1)) // sparse
	for _, tc := range []struct{ path, want string }{
		{fifo, "a named pipe (FIFO), not a regular file"},
		{dir, "a directory, not a regular file"},
		{huge, "more than the 1048576 expected"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := ReadPreprocessor(tc.path)
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, tc.path)
		case <-time.After(5 * time.Second):
			t.Fatalf("ReadPreprocessor(%s) blocks", tc.path)
		}
	}
	p, err := ReadPreprocessor(filepath.Join(dir, "absent.json"))
	require.NoError(t, err)
	require.Equal(t, DefaultPreprocessor(), p, "an absent file still means the defaults")
}
