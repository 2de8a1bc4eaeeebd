//go:build unix

package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// File names holding control characters: JSON and CSV carry them as they
// are (their own quoting keeps every byte), so results still name their
// files; the table and stderr quote them (displayName), so a newline can
// neither split nor forge a line.
func TestControlCharacterNames(t *testing.T) {
	_, good := mixedDir(t)
	dir := t.TempDir()
	img, err := os.ReadFile(good[0])
	require.NoError(t, err)
	nl := filepath.Join(dir, "nl\ngood.png")
	tab := filepath.Join(dir, "tab\tbad.png")
	require.NoError(t, os.WriteFile(nl, img, 0o644))
	require.NoError(t, os.WriteFile(tab, []byte("not an image"), 0o644))
	args := []string{"classify", "--model", tinyDir, "--device", "ref", "--quiet", "--top", "1", nl, tab}

	code, out, errs := runCLI(t, nil, append(args, "--json")...)
	require.Equal(t, 1, code, errs)
	var paths []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r classifyJSON
		require.NoError(t, json.Unmarshal([]byte(l), &r), l)
		paths = append(paths, r.Path)
		if r.Path == tab {
			require.Contains(t, r.Error, strconv.Quote(tab)+": ")
		}
	}
	require.Equal(t, []string{nl, tab}, paths)
	require.Equal(t, "vkdeit: "+strconv.Quote(tab)+": unsupported image format: not a JPEG, PNG, GIF, BMP, TIFF or WebP file\n"+
		"vkdeit: 1 of 2 inputs could not be classified\n", errs)

	code, out, errs = runCLI(t, nil, append(args, "--format", "csv")...)
	require.Equal(t, 1, code, errs)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, nl, rows[1][0])
	require.Equal(t, tab, rows[2][0])

	code, out, _ = runCLI(t, nil, args...)
	require.Equal(t, 1, code)
	require.True(t, strings.HasPrefix(out, strconv.Quote(nl)+"\n  1 "), "%q", out)

	npy := filepath.Join(dir, "e.npy")
	code, _, errs = runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", "--quiet", nl, "--format", "npy", "--output", npy)
	require.Equal(t, 0, code, errs)
	b, err := os.ReadFile(filepath.Join(dir, "e.paths.txt"))
	require.NoError(t, err)
	require.Equal(t, strconv.Quote(nl)+"\n", string(b), "one line per path: quoted")
	code, out, errs = runCLI(t, nil, "embed", "--model", tinyDir, "--device", "ref", "--quiet", nl)
	require.Equal(t, 0, code, errs)
	var rec embedJSON
	require.NoError(t, json.Unmarshal([]byte(out), &rec))
	require.Equal(t, nl, rec.Path)
}
