//go:build unix

package imageio

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
)

// Load refuses what is not a regular file without opening it for reading:
// a named pipe (opening one blocks until a writer comes), a device, also
// behind a symbolic link (/dev/zero never ends), a directory; and a file
// over DecodeOptions.MaxBytes before reading it.
func TestImageLoadSpecialFiles(t *testing.T) {
	jpeg, err := os.ReadFile(filepath.Join(goldenDir, "q90_420.jpg"))
	require.NoError(t, err)
	load := func(p string) error {
		_, err := Load(p, DecodeOptions{})
		return err
	}
	regfiletest.RequireRefused(t, load, regfiletest.Want{
		Name:     "photo.jpg",
		Limit:    DefaultMaxBytes,
		TooLarge: fmt.Sprintf("image too large: %d bytes, more than the limit of %d bytes (DecodeOptions.MaxBytes)", DefaultMaxBytes+1, DefaultMaxBytes),
		Accept:   jpeg,
	})
	missing := filepath.Join(t.TempDir(), "missing.jpg")
	require.ErrorContains(t, load(missing), missing+": no such file or directory")
}
