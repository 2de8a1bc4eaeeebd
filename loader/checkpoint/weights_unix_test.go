//go:build unix

package checkpoint

import (
	"testing"

	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
)

// TestReadNotRegular checks that a FIFO, a device or a directory given as
// the weights is refused before open(2) could block on it.
func TestReadNotRegular(t *testing.T) {
	regfiletest.RequireRefused(t, func(p string) error {
		f, err := Open(p)
		if err == nil {
			f.Close()
		}
		return err
	}, regfiletest.Want{Name: "model.safetensors", Accept: stFile(`{}`, nil)})
}
