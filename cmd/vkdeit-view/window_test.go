package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/loader/modeldir"
)

// The window test runs this test binary as the viewer: with
// $VKDEIT_VIEW_RUN=1 TestMain is main. (GLFW then runs on the main thread,
// which init locked.)
func TestMain(m *testing.M) {
	if os.Getenv("VKDEIT_VIEW_RUN") == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// Where the fixtures are, from this directory.
const (
	tinyModel   = "../../testdata/tiny-distilled"
	graceHopper = "../../testdata/grace_hopper_96x112.png"
)

// Every wait of the window test is bounded by this (lavapipe with the
// validation layer on two busy cores takes a few seconds per step).
const stepTimeout = 2 * time.Minute

// startXvfb starts a private X server (Xvfb, no window manager, 24-bit) and
// returns its display name. Without Xvfb the test is skipped outside CI and
// fails under CI (make deps installs it).
func startXvfb(t *testing.T) string {
	t.Helper()
	xvfb, err := exec.LookPath("Xvfb")
	if err == nil {
		_, err = exec.LookPath("xwd")
	}
	if err == nil {
		_, err = exec.LookPath("xdotool")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the window test needs Xvfb, xwd and xdotool (make deps installs them): %v", err)
		}
		t.Skipf("the window test needs Xvfb, xwd and xdotool (make deps installs them; CI=true makes this a failure): %v", err)
	}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "1024x768x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	w.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		require.Regexp(t, `^\d+$`, n, "Xvfb gave no display number; its output:\n%s", log.String())
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatalf("Xvfb did not start in 30 s; its output:\n%s", log.String())
	}
	return ""
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// viewerProc is the viewer running in its own process, its --verbose log
// read line by line.
type viewerProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	display string
	lines   chan string
	mu      sync.Mutex
	all     []string
	window  string
}

func startViewer(t *testing.T, display string, args ...string) *viewerProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-v"}, args...)...)
	cmd.Env = append(os.Environ(), "VKDEIT_VIEW_RUN=1", "DISPLAY="+display, "VKDEIT_VALIDATION=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &viewerProc{t: t, cmd: cmd, display: display, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.all = append(p.all, sc.Text())
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	m := p.await(regexp.MustCompile(`^vkdeit-view: window (0x[0-9a-f]+)$`))
	p.window = m[1]
	return p
}

// await returns the submatches of the next log line matching re.
func (p *viewerProc) await(re *regexp.Regexp) []string {
	p.t.Helper()
	deadline := time.After(stepTimeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the viewer ended before logging %q; its log:\n%s", re, p.log())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-deadline:
			p.t.Fatalf("the viewer did not log %q within %v; its log:\n%s", re, stepTimeout, p.log())
		}
	}
}

func (p *viewerProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.all, "\n")
}

// key sends a key press to the window.
func (p *viewerProc) key(name string) {
	p.t.Helper()
	p.xdotool("key", "--window", p.window, name)
}

// xdotool runs xdotool on the display.
func (p *viewerProc) xdotool(args ...string) {
	p.t.Helper()
	cmd := exec.Command("xdotool", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+p.display)
	out, err := cmd.CombinedOutput()
	require.NoError(p.t, err, "xdotool %v: %s", args, out)
}

// capture reads the window's pixels with xwd.
func (p *viewerProc) capture() *image.RGBA {
	p.t.Helper()
	cmd := exec.Command("xwd", "-silent", "-id", p.window)
	cmd.Env = append(os.Environ(), "DISPLAY="+p.display)
	out, err := cmd.Output()
	require.NoError(p.t, err, "xwd")
	img, err := decodeXWD(out)
	require.NoError(p.t, err)
	return img
}

// decodeXWD decodes an X Window Dump of a TrueColor window with 32 bits per
// pixel (what xwd writes for a 24-bit X server).
func decodeXWD(b []byte) (*image.RGBA, error) {
	if len(b) < 100 {
		return nil, errors.New("xwd: short header")
	}
	var h [25]uint32
	for i := range h {
		h[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	hdr, version, format, w, ht, order, bpp, bpl := h[0], h[1], h[2], int(h[4]), int(h[5]), h[7], h[11], int(h[12])
	masks, ncolors := [3]uint32{h[14], h[15], h[16]}, int(h[19])
	if version != 7 || format != 2 || bpp != 32 {
		return nil, fmt.Errorf("xwd: version %d, format %d, %d bits per pixel: want 7, 2 (ZPixmap), 32", version, format, bpp)
	}
	off := int(hdr) + 12*ncolors
	if w <= 0 || ht <= 0 || bpl < 4*w || len(b) < off+ht*bpl {
		return nil, fmt.Errorf("xwd: %dx%d at %d bytes a row does not fit %d bytes", w, ht, bpl, len(b))
	}
	img := image.NewRGBA(image.Rect(0, 0, w, ht))
	for y := 0; y < ht; y++ {
		for x := 0; x < w; x++ {
			q := b[off+y*bpl+4*x:]
			px := binary.LittleEndian.Uint32(q)
			if order == 1 {
				px = binary.BigEndian.Uint32(q)
			}
			o := img.PixOffset(x, y)
			for k, m := range masks {
				img.Pix[o+k] = uint8((px & m) >> bits.TrailingZeros32(m))
			}
			img.Pix[o+3] = 255
		}
	}
	return img, nil
}

// expected renders what the viewer must show for an image file, with the
// same drawing code and the same kind of engine on the same device.
type expecter struct {
	t    *testing.T
	c    *classifier
	name string
}

func newExpecter(t *testing.T) *expecter {
	files, err := modeldir.Find(tinyModel)
	require.NoError(t, err)
	m, err := deit.Load(files)
	require.NoError(t, err)
	eng, err := engine.NewGPU(gputest.Open(t), m, 1, engine.GPUOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, eng.Close()) })
	return &expecter{t: t, c: newClassifier(m, eng), name: eng.Name() + ", " + eng.Arithmetic()}
}

func (e *expecter) frame(w, h int, path string, pos, count int, overlay bool) (*image.RGBA, *view) {
	r := e.c.classify(context.Background(), path)
	require.NoError(e.t, r.err)
	v := &view{Name: filepath.Base(path), Pos: pos, Count: count, Crop: r.crop, Preds: r.preds, Heat: r.heat, Overlay: overlay, Engine: e.name}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var p painter
	p.render(img, v)
	return img, v
}

// differing counts the pixels of r where a and b differ by more than tol in
// some channel.
func differing(a, b *image.RGBA, r image.Rectangle, tol int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			i, j := a.PixOffset(x, y), b.PixOffset(x, y)
			for k := 0; k < 3; k++ {
				if d := int(a.Pix[i+k]) - int(b.Pix[j+k]); d > tol || -d > tol {
					n++
					break
				}
			}
		}
	}
	return n
}

// shows checks a captured window against the expected frame: the image
// region, the ranking's text region and the footer each match within a
// tolerance (at most 0.1% of their pixels off by more than 2 levels), and
// none of them is blank.
func shows(got, want *image.RGBA) error {
	if got.Rect != want.Rect {
		return fmt.Errorf("the window is %v, want %v", got.Rect, want.Rect)
	}
	l := layoutFor(want.Rect.Dx(), want.Rect.Dy())
	blank := image.NewRGBA(want.Rect)
	(&painter{}).render(blank, &view{})
	for _, region := range []struct {
		name string
		r    image.Rectangle
	}{{"image", l.Image}, {"ranking", l.Panel}, {"footer", l.Footer}, {"whole window", want.Rect}} {
		area := region.r.Dx() * region.r.Dy()
		if n := differing(got, want, region.r, 2); n > area/1000 {
			return fmt.Errorf("the %s region %v differs from the expected rendering in %d of %d pixels", region.name, region.r, n, area)
		}
		if n := differing(got, blank, region.r, 16); n <= area/100 {
			return fmt.Errorf("the %s region %v is (nearly) blank: %d of %d pixels drawn", region.name, region.r, n, area)
		}
	}
	return nil
}

// requireShows captures the window until it shows want (presentation may
// lag the log line by a frame), failing after stepTimeout. It returns the
// capture.
func (p *viewerProc) requireShows(want *image.RGBA, what string) *image.RGBA {
	p.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		got := p.capture()
		err := shows(got, want)
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %v; the viewer's log:\n%s", what, err, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWindow runs the viewer under Xvfb on lavapipe: it captures the window
// with xwd after each step and compares it with the frame the drawing code
// makes for the same classification — with the overlay on, after A turns it
// off, after Right steps to the folder's next image, after that file
// changes on disk, and after the window is resized — and checks that the overlay really changes the image
// region. Q closes the window; the validation layer must have reported
// nothing.
func TestWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the window test takes a while on lavapipe")
	}
	display := startXvfb(t)
	e := newExpecter(t)

	dir := t.TempDir()
	data, err := os.ReadFile(graceHopper)
	require.NoError(t, err)
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	require.NoError(t, os.WriteFile(a, data, 0o644))
	require.NoError(t, writeTestPNG(b, flipped(t, data)))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644))

	const w, h = 640, 360
	p := startViewer(t, display, "--model", tinyModel, "--size", fmt.Sprintf("%dx%d", w, h), "--overlay", "--poll", "100ms", a)
	top := func(v *view) string {
		return regexp.QuoteMeta(fmt.Sprintf("top-1 %q %.4f", v.Preds[0].Label, v.Preds[0].Score))
	}

	wantA, va := e.frame(w, h, a, 1, 2, true)
	p.await(regexp.MustCompile(`shown 640x360 1/2 a\.png: ` + top(va) + `, overlay on$`))
	gotOn := p.requireShows(wantA, "a.png, overlay on")

	p.key("a")
	wantOff, _ := e.frame(w, h, a, 1, 2, false)
	p.await(regexp.MustCompile(`shown 640x360 1/2 a\.png: ` + top(va) + `, overlay off$`))
	gotOff := p.requireShows(wantOff, "a.png, overlay off")
	img := layoutFor(w, h).Image
	require.Greater(t, differing(gotOn, gotOff, img, 16), img.Dx()*img.Dy()/4, "the overlay must visibly change the image")

	p.key("a")
	p.key("Right")
	wantB, vb := e.frame(w, h, b, 2, 2, true)
	p.await(regexp.MustCompile(`shown 640x360 2/2 b\.png: ` + top(vb) + `, overlay on$`))
	p.requireShows(wantB, "b.png after Right")

	// b.png changes on disk: the viewer classifies it again.
	require.NoError(t, os.WriteFile(b, data, 0o644))
	future := time.Now().Add(time.Minute) // a new stamp even on a coarse clock
	require.NoError(t, os.Chtimes(b, future, future))
	wantB2, vb2 := e.frame(w, h, b, 2, 2, true)
	p.await(regexp.MustCompile(`shown 640x360 2/2 b\.png: ` + top(vb2) + `, overlay on$`))
	p.requireShows(wantB2, "b.png after it changed")

	// A resized window gets a new swapchain and a frame of its new size.
	p.xdotool("windowsize", p.window, "480", "300")
	wantSmall, _ := e.frame(480, 300, b, 2, 2, true)
	p.await(regexp.MustCompile(`shown 480x300 2/2 b\.png: ` + top(vb2) + `, overlay on$`))
	p.requireShows(wantSmall, "b.png in the resized window")

	p.key("q")
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "the viewer's exit; its log:\n%s", p.log())
	case <-time.After(stepTimeout):
		t.Fatalf("Q did not close the viewer; its log:\n%s", p.log())
	}
	for range p.lines { // the rest of the log
	}
	require.NotContains(t, p.log(), "gpu: validation: ", "the validation layer reported something")
}

// flipped returns the PNG image in data upside down (another image with
// the same colours).
func flipped(t *testing.T, data []byte) image.Image {
	src, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	b := src.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x, b.Max.Y-1-(y-b.Min.Y), src.At(x, y))
		}
	}
	return out
}

func writeTestPNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// TestNoDisplay: without a reachable display the viewer stops with one
// error line naming the display problem (go-gl/glfw only logs it and
// carries on; GLFW must not be used uninitialized afterwards).
func TestNoDisplay(t *testing.T) {
	for _, display := range []string{"", ":4711"} {
		cmd := exec.Command(os.Args[0], "--model", tinyModel, graceHopper)
		cmd.Env = append(os.Environ(), "VKDEIT_VIEW_RUN=1", "DISPLAY="+display, "WAYLAND_DISPLAY=")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "DISPLAY=%q: %s", display, out)
		require.Equal(t, 1, exit.ExitCode(), "DISPLAY=%q: %s", display, out)
		require.Regexp(t, `^vkdeit-view: opening the display: PlatformError: X11: .*\n$`, string(out), "DISPLAY=%q", display)
	}
}
