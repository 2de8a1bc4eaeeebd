//go:build unix

package regfile_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile"
	"github.com/vkdeit/vkdeit/internal/regfile/regfiletest"
)

func TestOpenAndReadFile(t *testing.T) {
	regfiletest.RequireRefused(t, func(p string) error {
		f, _, err := regfile.Open(p)
		if err == nil {
			f.Close()
		}
		return err
	}, regfiletest.Want{Accept: []byte("hello")})
	regfiletest.RequireRefused(t, func(p string) error {
		_, err := regfile.ReadFile(p, 5)
		return err
	}, regfiletest.Want{Name: "a.json", Limit: 5, TooLarge: "6 bytes, more than the 5 expected", Accept: []byte("hello")})

	dir := t.TempDir()
	file := filepath.Join(dir, "a.json")
	require.NoError(t, os.WriteFile(file, []byte("hello"), 0o644))
	b, err := regfile.ReadFile(file, 5)
	require.NoError(t, err)
	require.Equal(t, "hello", string(b))
	_, _, err = regfile.Open(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Equal(t, "a regular file", regfile.Describe(0))
}
