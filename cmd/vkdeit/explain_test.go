package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/explain"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// referenceMaps are the maps of one image file made from the float64
// reference's attention, and its top-3.
func referenceMaps(t *testing.T, m *deit.Model, path string, method explain.Method) ([]explain.Map, []classify.Prediction) {
	t.Helper()
	img, err := imageio.Load(path, imageio.DecodeOptions{})
	require.NoError(t, err)
	px, err := m.Preprocessor.Apply(img)
	require.NoError(t, err)
	out, err := engine.RunReference(context.Background(), m, px, 1, deit.TapAttention)
	require.NoError(t, err)
	maps, err := explain.Maps(method, out.Attention, 0, m.Config)
	require.NoError(t, err)
	top, err := classify.TopK(out.Logits, 3, m.Config.Labels)
	require.NoError(t, err)
	return maps, top
}

// TestExplainFormats runs explain on a file and on standard input in each
// format: one file per image and map, listed on stdout, holding the maps
// of the reference's attention (png: the overlay explain.Overlay draws).
func TestExplainFormats(t *testing.T) {
	m := loadTiny(t)
	_, good := mixedDir(t)
	pngData, err := os.ReadFile(good[0])
	require.NoError(t, err)
	for _, c := range []struct {
		format string
		method explain.Method
	}{{"json", explain.Last}, {"npy", explain.Rollout}, {"png", explain.Rollout}, {"png", explain.Last}} {
		t.Run(c.format+"/"+string(c.method), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "maps") // created by the command
			code, out, errs := runCLI(t, pngData, "explain", "--model", tinyDir, "--device", "ref", "--format", c.format,
				"--method", string(c.method), "--output", dir, good[0], "-")
			require.Equal(t, 0, code, errs)
			want, top := referenceMaps(t, m, good[0], c.method)
			var files []string
			for _, stem := range []string{"a_good", "stdin"} {
				for _, mp := range want {
					files = append(files, filepath.Join(dir, stem+"."+mp.Name()+"."+c.format))
				}
			}
			require.Equal(t, files, strings.Fields(out), "the files written, in input order")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, len(files), "no other (temporary) file left")
			for i, f := range files {
				mp := want[i%len(want)]
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				switch c.format {
				case "json":
					var got explainJSON
					require.NoError(t, json.Unmarshal(b, &got))
					require.Equal(t, mp.Method, got.Method)
					require.Equal(t, [3]any{mp.Token, mp.Head, mp.Rows}, [3]any{got.Token, got.Head, got.Rows})
					require.Len(t, got.Map, mp.Rows)
					for y, row := range got.Map {
						require.Equal(t, mp.Values[y*mp.Cols:(y+1)*mp.Cols], row)
					}
				case "npy":
					require.Contains(t, string(b[:128]), fmt.Sprintf("'shape': (%d, %d)", mp.Rows, mp.Cols))
					require.Len(t, b, 128+4*len(mp.Values))
					for j, v := range mp.Values {
						require.Equal(t, float32(v), math.Float32frombits(binary.LittleEndian.Uint32(b[128+4*j:])), "cell %d", j)
					}
				case "png":
					img, err := imageio.Load(good[0], imageio.DecodeOptions{})
					require.NoError(t, err)
					crop, err := explain.InputCrop(img, m.Preprocessor)
					require.NoError(t, err)
					caption := []string{mp.Name()}
					for k, p := range top {
						caption = append(caption, fmt.Sprintf("%d. %5.1f%% %s", k+1, 100*p.Score, p.Label))
					}
					wantPic, err := explain.Overlay(crop, mp, caption)
					require.NoError(t, err)
					got, err := png.Decode(strings.NewReader(string(b)))
					require.NoError(t, err)
					require.Equal(t, wantPic.Bounds(), got.Bounds())
					nrgba := image.NewRGBA(got.Bounds())
					for y := range got.Bounds().Dy() {
						for x := range got.Bounds().Dx() {
							nrgba.Set(x, y, got.At(x, y))
						}
					}
					require.Equal(t, wantPic.Pix, nrgba.Pix, "%s is the overlay of the map with the top-3", f)
				}
			}
		})
	}
}

// TestExplainGPU: the GPU engine's maps agree with the reference's.
func TestExplainGPU(t *testing.T) {
	needGPU(t)
	m := loadTiny(t)
	_, good := mixedDir(t)
	dir := t.TempDir()
	code, _, errs := runCLI(t, nil, "explain", "--model", tinyDir, "--device", "gpu", "--format", "json", "--output", dir, good[0])
	require.Equal(t, 0, code, errs)
	want, _ := referenceMaps(t, m, good[0], explain.Rollout)
	for _, mp := range want {
		b, err := os.ReadFile(filepath.Join(dir, "a_good."+mp.Name()+".json"))
		require.NoError(t, err)
		var got explainJSON
		require.NoError(t, json.Unmarshal(b, &got))
		for y, row := range got.Map {
			require.InDeltaSlice(t, mp.Values[y*mp.Cols:(y+1)*mp.Cols], row, 1e-6)
		}
	}
}

func TestExplainErrors(t *testing.T) {
	dir, good := mixedDir(t)
	out := t.TempDir()
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--output", out}, "explain: no images given"},
		{[]string{good[0]}, "explain: --output DIR is required"},
		{[]string{"--output", out, "--format", "gif", good[0]}, `explain: --format must be png, npy or json, not "gif"`},
		{[]string{"--output", out, "--method", "gradcam", good[0]}, `explain: --method: unknown attention-map method "gradcam"`},
		{[]string{"--output", out, "--batch", "0", good[0]}, "explain: --batch must be ≥ 1"},
	} {
		code, _, errs := runCLI(t, nil, append([]string{"explain", "--model", tinyDir, "--device", "ref"}, c.args...)...)
		require.Equal(t, 2, code, errs)
		require.Contains(t, errs, c.msg)
	}
	// Unreadable images are reported by name and counted; the others are
	// explained.
	code, stdout, errs := runCLI(t, nil, "explain", "--model", tinyDir, "--device", "ref", "--format", "json", "--output", out, dir)
	require.Equal(t, 1, code, errs)
	require.Contains(t, errs, "b_truncated.jpg")
	require.Contains(t, errs, "3 of 5 inputs could not be explained")
	require.Len(t, strings.Fields(stdout), 2*2, "two images, [CLS] and [DIST] maps")
	// An output path that is a file.
	file := filepath.Join(out, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	code, _, errs = runCLI(t, nil, "explain", "--model", tinyDir, "--device", "ref", "--output", file, good[0])
	require.Equal(t, 1, code)
	require.Contains(t, errs, "--output: mkdir "+file)
}
