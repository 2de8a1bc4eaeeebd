package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/explain"
	"github.com/vkdeit/vkdeit/loader/imageio"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// TestImages: a folder lists its image files in name order; a file lists
// its folder with its own position, even without an image extension; a
// folder without images, a missing path and an unreadable folder are
// errors naming the path.
func TestImages(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.png", "a.JPG", "c.webp", "notes.txt", "raw.bin"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.png"), 0o755))
	join := func(ns ...string) []string {
		for i, n := range ns {
			ns[i] = filepath.Join(dir, n)
		}
		return ns
	}
	empty := t.TempDir()
	for _, c := range []struct {
		arg   string
		files []string
		pos   int
		err   string
	}{
		{arg: dir, files: join("a.JPG", "b.png", "c.webp")},
		{arg: filepath.Join(dir, "b.png"), files: join("a.JPG", "b.png", "c.webp"), pos: 1},
		{arg: filepath.Join(dir, "raw.bin"), files: join("a.JPG", "b.png", "c.webp", "raw.bin"), pos: 3},
		{arg: empty, err: empty + ": no images (looked for"},
		{arg: filepath.Join(dir, "missing.png"), err: "missing.png: no such file"},
	} {
		files, pos, err := images(c.arg)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.arg)
			continue
		}
		require.NoError(t, err, c.arg)
		require.Equal(t, c.files, files, c.arg)
		require.Equal(t, c.pos, pos, c.arg)
	}
}

// TestApp: stepping wraps around and clears the shown result; only the
// latest request's result is taken; poll asks again exactly when the file
// changed, keeping the old result on screen meanwhile.
func TestApp(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, n := range []string{"a.png", "b.png", "c.png"} {
		p := filepath.Join(dir, n)
		require.NoError(t, os.WriteFile(p, []byte(n), 0o644))
		files = append(files, p)
	}
	a := &app{files: files}
	first := a.request()
	require.Equal(t, files[0], first.path)
	require.True(t, a.view().Status != "", "pending shows a status")

	r := a.step(-1)
	require.Equal(t, 2, a.pos, "wraps backwards")
	require.Equal(t, files[2], r.path)
	require.False(t, a.done(first.gen, result{err: errors.New("stale")}), "a superseded result is dropped")
	require.True(t, a.pending)
	require.True(t, a.done(r.gen, result{err: errors.New("bad file")}))
	v := a.view()
	require.True(t, v.Err)
	require.Equal(t, "bad file", v.Status)
	require.Equal(t, 3, v.Pos)
	require.Equal(t, "c.png", v.Name)

	r = a.step(1)
	require.Equal(t, 0, a.pos, "wraps forwards")
	require.Nil(t, a.view().Crop)
	ok := result{preds: nil, crop: uniform(2, 2, colText)}
	require.True(t, a.done(r.gen, ok))

	_, again := a.poll()
	require.False(t, again, "unchanged file")
	future := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(files[0], future, future))
	r2, again := a.poll()
	require.True(t, again, "changed mtime")
	require.Equal(t, files[0], r2.path)
	require.NotNil(t, a.view().Crop, "the old result stays while the new one is made")
	_, again = a.poll()
	require.False(t, again, "asked once per change")
	require.NoError(t, os.WriteFile(files[0], []byte("longer content"), 0o644))
	require.NoError(t, os.Chtimes(files[0], future, future))
	_, again = a.poll()
	require.True(t, again, "changed size, same mtime")
}

// TestParseArgs: the flags and their errors (usage errors exit with 2).
func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"--size", "800X600", "--overlay", "-m", "dir", "x.png"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, [2]int{800, 600}, [2]int{o.width, o.height})
	require.True(t, o.overlay)
	require.Equal(t, "dir", o.model)
	require.Equal(t, "x.png", o.path)
	require.Equal(t, 500*time.Millisecond, o.poll)

	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{}, "want one IMAGE or FOLDER argument, got 0"},
		{[]string{"a", "b"}, "got 2"},
		{[]string{"--size", "800", "x"}, `--size "800": want WIDTHxHEIGHT`},
		{[]string{"--size", "10x600", "x"}, "each side must be 64 to 8192 pixels"},
		{[]string{"--size", "axb", "x"}, "want WIDTHxHEIGHT"},
		{[]string{"--poll", "0s", "x"}, "--poll 0s: must be positive"},
		{[]string{"--precision", "fp8", "x"}, "fp8"},
		{[]string{"--nope", "x"}, "unknown flag: --nope"},
	} {
		var stderr bytes.Buffer
		require.Equal(t, 2, run(c.args, &stderr), "%v", c.args)
		require.Contains(t, stderr.String(), c.err, "%v", c.args)
	}
	var stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"--help"}, &stderr))
	require.Contains(t, stderr.String(), "usage: vkdeit-view")
	require.Equal(t, 1, run([]string{filepath.Join(t.TempDir(), "missing")}, &stderr))
	require.Contains(t, stderr.String(), "missing: no such file")
}

// TestClassifier: on the tiny fixture (reference engine, no GPU needed) the
// crop is the model's 32×32 input, the ranking is TopK of the engine's
// logits, and the map is explain's [CLS] rollout on the 4×4 patch grid;
// a file that is no image is an error naming it.
func TestClassifier(t *testing.T) {
	files, err := modeldir.Find(tinyModel)
	require.NoError(t, err)
	m, err := deit.Load(files)
	require.NoError(t, err)
	eng, err := engine.NewReference(m, 1, engine.ReferenceOptions{})
	require.NoError(t, err)
	defer eng.Close()
	c := newClassifier(m, eng)
	r := c.classify(context.Background(), graceHopper)
	require.NoError(t, r.err)
	require.Equal(t, [2]int{32, 32}, [2]int{r.crop.Rect.Dx(), r.crop.Rect.Dy()})
	require.Len(t, r.preds, topK)
	require.Equal(t, [2]int{4, 4}, [2]int{r.heat.Rows, r.heat.Cols})
	require.Equal(t, "rollout-cls", r.heat.Name())
	sum := 0.0
	for _, v := range r.heat.Values {
		require.Positive(t, v)
		sum += v
	}
	require.InDelta(t, 1, sum, 1e-9)
	// The map is explain's rollout of the engine's attention tap.
	out, err := eng.Run(context.Background(), mustPixels(t, m, graceHopper), 1, deit.TapAttention)
	require.NoError(t, err)
	maps, err := explain.Maps(explain.Rollout, out.Attention, 0, m.Config)
	require.NoError(t, err)
	require.Equal(t, maps[0], *r.heat)

	// The crop is what the model sees: normalizing it as the preprocessor
	// does gives the model's input (to float32 rounding).
	pixels, err := m.Preprocessor.Apply(mustLoad(t, graceHopper))
	require.NoError(t, err)
	pre := m.Preprocessor
	for y := range 32 {
		for x := range 32 {
			for k := range 3 {
				v := float64(r.crop.Pix[r.crop.PixOffset(x, y)+k])
				want := (v*pre.RescaleFactor - float64(pre.Mean[k])) / float64(pre.Std[k])
				require.InDelta(t, want, pixels[(k*32+y)*32+x], 1e-5, "pixel (%d,%d) channel %d", x, y, k)
			}
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.png")
	require.NoError(t, os.WriteFile(bad, []byte("not a png"), 0o644))
	r = c.classify(context.Background(), bad)
	require.Error(t, r.err)
	require.True(t, strings.Contains(r.err.Error(), "bad.png"), r.err.Error())
}

func mustLoad(t *testing.T, path string) *imageio.Image {
	t.Helper()
	img, err := imageio.Load(path, imageio.DecodeOptions{})
	require.NoError(t, err)
	return img
}

// mustPixels is the model's input for the image file at path.
func mustPixels(t *testing.T, m *deit.Model, path string) []float32 {
	t.Helper()
	px, err := m.Preprocessor.Apply(mustLoad(t, path))
	require.NoError(t, err)
	return px
}
