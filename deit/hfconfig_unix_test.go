//go:build unix

package deit

import (
	"testing"

	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
)

// TestReadConfigNotRegular checks that a config.json that is a FIFO, a
// directory or a device is refused without blocking, and a huge one
// without reading it.
func TestReadConfigNotRegular(t *testing.T) {
	regfiletest.RequireRefused(t, func(p string) error {
		_, err := ReadHFConfig(p)
		return err
	}, regfiletest.Want{Name: "config.json", Limit: maxConfigBytes, TooLarge: "more than the 16777216 expected", Accept: []byte("{}")})
}
