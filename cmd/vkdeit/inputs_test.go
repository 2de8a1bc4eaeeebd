package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestExpandInputs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.PNG", "a/x.webp", "a/y.txt", "c.jpeg", "empty/.keep"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	require.NoError(t, os.Symlink(filepath.Join(dir, "c.jpeg"), filepath.Join(dir, "d.jpg")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "e.jpg")))
	explicit := filepath.Join(dir, "a", "y.txt")
	ins, errs, warns := expandInputs([]string{dir, "-", explicit, filepath.Join(dir, "nope.png"), "-", filepath.Join(dir, "empty")},
		strings.NewReader("\x89PNG\r\n\x1a\nstdin bytes"))

	var names []string
	for _, in := range ins {
		names = append(names, inputName(in))
	}
	rel := func(p string) string { return filepath.Join(dir, p) }
	// Directory entries in lexical order, image extensions only (any case),
	// symlinks to files followed, broken ones skipped; explicit files as given.
	require.Equal(t, []string{rel("a/x.webp"), rel("b.PNG"), rel("c.jpeg"), rel("d.jpg"), "-", explicit}, names)
	require.Equal(t, []byte("\x89PNG\r\n\x1a\nstdin bytes"), ins[4].Data, "read whole, decoded later")
	require.Len(t, errs, 2)
	require.Contains(t, errs[0].Error(), "nope.png: no such file or directory")
	require.Contains(t, errs[1].Error(), "standard input given more than once")
	require.Len(t, warns, 1)
	require.Contains(t, warns[0], "empty: no image files")
}

// endlessReader is a stream like /dev/zero after a prefix; it fails the
// read past limit bytes, so that reading too much is an error, not an hour
// and a gigabyte.
type endlessReader struct {
	head  []byte
	n     int64
	limit int64
}

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.n+int64(len(p)) > r.limit {
		return 0, fmt.Errorf("read past %d bytes", r.limit)
	}
	clear(p)
	if r.n < int64(len(r.head)) {
		copy(p, r.head[r.n:])
	}
	r.n += int64(len(p))
	return len(p), nil
}

// Standard input is identified from its first bytes before the rest is
// read: "classify - < /dev/zero" read and held 512 MiB (1.28 GB at the
// peak) before it was refused.
func TestExpandInputsStdinSniffedFirst(t *testing.T) {
	cases := []struct {
		name  string
		head  string
		limit int64
		msg   string
	}{
		{"zeros", "", 16, "-: standard input: unsupported image format: not a JPEG, PNG, GIF, BMP, TIFF or WebP file"},
		{"text", "hello, world\n", 16, "-: standard input: unsupported image format: not a JPEG, PNG, GIF, BMP, TIFF or WebP file"},
		{"pdf", "%PDF-1.7", 16, "-: standard input: unsupported image format: PDF images are not supported (convert to JPEG or PNG)"},
		{"empty", "", 0, "-: standard input: corrupt image: empty file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r io.Reader = &endlessReader{head: []byte(c.head), limit: c.limit}
			if c.limit == 0 {
				r = strings.NewReader("")
			}
			ins, errs, _ := expandInputs([]string{"-"}, r)
			require.Empty(t, ins)
			require.Len(t, errs, 1)
			require.EqualError(t, errs[0], c.msg)
		})
	}
	// An image is read to its end.
	_, good := mixedDir(t)
	data, err := os.ReadFile(good[0])
	require.NoError(t, err)
	ins, errs, _ := expandInputs([]string{"-"}, bytes.NewReader(data))
	require.Empty(t, errs)
	require.Equal(t, data, ins[0].Data)
}

func TestProgress(t *testing.T) {
	var term, out bytes.Buffer
	e := newEnv(nil, &out, &term)
	require.Nil(t, newProgress(e, false, 4, "images"), "no bar when stderr is not a terminal")
	e.terminal = true
	require.Nil(t, newProgress(e, true, 4, "images"), "no bar with --quiet")
	p := newProgress(e, false, 4, "images")
	require.Contains(t, term.String(), "0/4 images", "drawn from the start")
	p.Add(1)
	p.Printf(&out, "result %d\n", 7) // redraws at once
	require.Contains(t, term.String(), "1/4 images")
	require.Equal(t, "result 7\n", out.String())
	require.Contains(t, term.String(), "\r\033[K", "the bar is cleared before other output")
	p.Add(3)
	require.Contains(t, term.String(), "[==============================] 4/4 images")
	require.Regexp(t, `1/4 images  [0-9.]+/s  ETA `, term.String())
	p.Finish()
	require.True(t, strings.HasSuffix(term.String(), "\r\033[K"))

	var nilP *progress // no terminal: writes go straight through
	nilP.Add(1)
	nilP.Printf(&out, "x")
	nilP.Finish()
	require.Equal(t, "result 7\nx", out.String())
}

func TestDisplayName(t *testing.T) {
	require.Equal(t, "a b/ü.jpg", displayName("a b/ü.jpg"))
	require.Equal(t, `"a\nb.jpg"`, displayName("a\nb.jpg"))
}

func TestDownloadProgress(t *testing.T) {
	var term bytes.Buffer
	e := newEnv(nil, &bytes.Buffer{}, &term)
	report, done := downloadProgress(e, false)
	require.Nil(t, report, "no bar when stderr is not a terminal")
	done()
	e.terminal = true
	report, done = downloadProgress(e, false)
	report("config.json", 10, 20)
	report("model.safetensors", 3<<20, 6<<20)
	report("model.safetensors", 6<<20, 6<<20)
	done()
	out := term.String()
	require.Contains(t, out, "0 B/20 B") // drawn from the start, small files too
	require.Contains(t, out, "6.0 MiB/6.0 MiB")
	require.Contains(t, out, "model.safetensors")
	require.True(t, strings.HasSuffix(out, "\r\033[K"), "the bar is removed at the end")
}

// TestProgressFitsNarrowTerminals: every line of the bar fits the
// terminal's width short of its last column, however narrow (a wrapped
// line scrolls instead of being redrawn), and the bar follows a resize.
func TestProgressFitsNarrowTerminals(t *testing.T) {
	for _, cols := range []int{200, 80, 50, 30, 12, 4} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			var term bytes.Buffer
			e := newEnv(nil, &bytes.Buffer{}, &term)
			e.terminal = true
			e.columns = func() int { return cols }
			p := newProgress(e, false, 1000, "images")
			for range 1000 {
				time.Sleep(time.Microsecond)
				p.Printf(&bytes.Buffer{}, "x") // forces a redraw
				p.Add(1)
			}
			p.Finish()
			d := newProgress(e, false, 6<<30, "bytes")
			d.label = "model-with-a-rather-long-name.safetensors"
			d.Set(1 << 30)
			d.Printf(&bytes.Buffer{}, "x")
			d.Finish()
			lines := strings.Split(term.String(), "\r\033[K")
			require.Greater(t, len(lines), 1000)
			for _, l := range lines {
				if utf8.RuneCountInString(l) > cols-1 {
					t.Fatalf("%q is wider than %d columns less one", l, cols)
				}
				require.NotContains(t, l, "\n")
			}
			out := term.String()
			if cols >= 80 {
				require.True(t, strings.Contains(out, "[==============================] 1000/1000 images"), "a full bar at %d columns", cols)
			}
			if cols >= 200 {
				require.True(t, strings.Contains(out, "model-with-a-rather-long-name.safetensors"), "the label at %d columns", cols)
			}
			if cols == 50 {
				require.Regexp(t, `\[=+>? *\] 500/1000 images  [0-9.]+/s`, out[:min(len(out), 1<<20)], "a narrower bar, the counts and rate kept")
			}
		})
	}
}

// TestSummaryLine: classify and embed end with one line — images, errors,
// time, rate — unless --quiet.
func TestSummaryLine(t *testing.T) {
	dir, _ := mixedDir(t)
	for _, cmd := range []string{"classify", "embed"} {
		code, _, errs := runCLI(t, nil, cmd, "--model", tinyDir, "--device", "ref", dir)
		require.Equal(t, 1, code, errs)
		require.Regexp(t, `(?m)^vkdeit: `+cmd+`: 5 images, 3 errors, [0-9.]+m?s, [0-9.]+ img/s$`, errs)
		code, _, errs = runCLI(t, nil, cmd, "--model", tinyDir, "--device", "ref", "--quiet", dir)
		require.Equal(t, 1, code, errs)
		require.NotContains(t, errs, "img/s")
	}
}

// TestExpandInputsWalk: directory walks skip hidden files and directories
// (macOS "._*" AppleDouble files among them), take every JPEG extension
// Pillow knows (.jfif, .jpe), follow symbolic links to directories once
// each and say so where a link leads back (a loop); a URL given as a path
// suggests piping it.
func TestExpandInputsWalk(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.jpg", ".hidden.jpg", "._a.jpg", ".git/x.png", "photo.jfif", "PIC.JPE", "sub/b.png"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "c.webp"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink(other, filepath.Join(dir, "elsewhere")))
	require.NoError(t, os.Symlink(dir, filepath.Join(dir, "sub", "loop")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "z-again")))

	ins, errs, warns := expandInputs([]string{dir, "https://example.org/cat.jpg"}, nil)
	var names []string
	for _, in := range ins {
		names = append(names, inputName(in))
	}
	rel := func(p string) string { return filepath.Join(dir, p) }
	require.Equal(t, []string{rel("PIC.JPE"), rel("a.jpg"), rel("elsewhere/c.webp"), rel("photo.jfif"), rel("sub/b.png")}, names)
	require.Len(t, warns, 2, "%q", warns)
	realDir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	require.Contains(t, warns[0], rel("sub/loop")+": symbolic link to "+realDir+", which is walked already as "+dir+": not followed again")
	require.Contains(t, warns[1], rel("z-again")+": symbolic link to ")
	require.Len(t, errs, 1)
	require.Equal(t, "https://example.org/cat.jpg: no such file: vkdeit reads local files, not URLs; pipe it to standard input: curl -sL 'https://example.org/cat.jpg' | vkdeit classify -", errs[0].Error())
	require.Equal(t, "https://example.org/cat.jpg: no such file: vkdeit reads local files, not URLs; pipe it to standard input: curl -sL 'https://example.org/cat.jpg' | vkdeit embed -",
		forCommand(errs, "embed")[0].Error())
	require.False(t, isURL("dir/a:b.jpg"))
	require.False(t, isURL("://x"))
}
