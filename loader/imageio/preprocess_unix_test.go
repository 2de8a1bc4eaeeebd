//go:build unix

package imageio

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
)

// TestReadPreprocessorNotRegular checks that a preprocessor_config.json that
// is a FIFO, a directory or a device is an error (not the defaults),
// without blocking, and that a huge one is not read.
func TestReadPreprocessorNotRegular(t *testing.T) {
	regfiletest.RequireRefused(t, func(p string) error {
		_, err := ReadPreprocessor(p)
		return err
	}, regfiletest.Want{Name: "preprocessor_config.json", Limit: maxPreprocessorBytes, TooLarge: "more than the 1048576 expected", Accept: []byte("{}")})
	p, err := ReadPreprocessor(filepath.Join(t.TempDir(), "absent.json"))
	require.NoError(t, err)
	require.Equal(t, DefaultPreprocessor(), p, "an absent file still means the defaults")
}
