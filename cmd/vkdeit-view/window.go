package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/go-gl/glfw/v3.3/glfw"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/loader/hub"
)

// GLFW must be called from the main thread: keep main's goroutine on it.
func init() { runtime.LockOSThread() }

// key actions.
type action int

const (
	actNone action = iota
	actNext
	actPrev
	actFirst
	actLast
	actOverlay
	actQuit
)

// actionFor maps a key to what it does.
func actionFor(k glfw.Key) action {
	switch k {
	case glfw.KeyRight, glfw.KeyDown, glfw.KeySpace, glfw.KeyPageDown:
		return actNext
	case glfw.KeyLeft, glfw.KeyUp, glfw.KeyBackspace, glfw.KeyPageUp:
		return actPrev
	case glfw.KeyHome:
		return actFirst
	case glfw.KeyEnd:
		return actLast
	case glfw.KeyA, glfw.KeyTab:
		return actOverlay
	case glfw.KeyQ, glfw.KeyEscape:
		return actQuit
	}
	return actNone
}

// job is a request with the context that cancels it when a later one
// supersedes it.
type job struct {
	request
	ctx context.Context
}

// answer is a job's result.
type answer struct {
	gen uint64
	r   result
}

// runViewer runs the viewer until its window is closed or ctx is cancelled.
func runViewer(ctx context.Context, o *options, stderr io.Writer) error {
	files, pos, err := images(o.path)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(stderr, "vkdeit-view: "+format+"\n", args...)
		}
	}
	// The model first: no window flashes up for a model that cannot load.
	mf, err := hub.ResolveModel(ctx, o.model, hub.FromEnv())
	if err != nil {
		return fmt.Errorf("model %s: %w", o.model, err)
	}
	m, err := deit.Load(mf)
	if err != nil {
		return fmt.Errorf("model %s: %w", o.model, err)
	}
	for _, n := range m.Notes {
		fmt.Fprintf(stderr, "vkdeit-view: note: %s\n", n)
	}

	if err := glfwCall(glfw.Init); err != nil {
		return fmt.Errorf("opening the display: %w", err)
	}
	defer glfw.Terminate()
	if !glfw.VulkanSupported() {
		return errors.New("GLFW finds no Vulkan loader (Debian: apt-get install libvulkan1)")
	}
	glfw.WindowHint(glfw.ClientAPI, glfw.NoAPI)
	glfw.WindowHint(glfw.Resizable, glfw.True)
	var win *glfw.Window
	err = glfwCall(func() (err error) {
		win, err = glfw.CreateWindow(o.width, o.height, "vkdeit-view", nil, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating the window: %w", err)
	}
	defer win.Destroy()
	logf("window %s", windowID(win))

	gopts := gpu.OptionsFromEnv()
	if o.device != "" {
		gopts.Select = o.device
	}
	gopts.Log = stderr
	gopts.InstanceExtensions = win.GetRequiredInstanceExtensions()
	if len(gopts.InstanceExtensions) == 0 {
		return errors.New("GLFW finds no Vulkan surface support for this window system")
	}
	gopts.Surface = func(inst unsafe.Pointer) (uintptr, error) { return windowSurface(win, inst) }
	dev, err := gpu.Open(gopts)
	if err != nil {
		return err
	}
	defer dev.Close()
	eng, err := engine.NewGPU(dev, m, 1, engine.GPUOptions{Precision: o.precision})
	if err != nil {
		return err
	}
	defer eng.Close()
	fw, fh := win.GetFramebufferSize()
	sc, err := dev.NewSwapchain(max(fw, 1), max(fh, 1))
	if err != nil {
		return err
	}
	defer sc.Close()

	// The worker classifies off the main thread, so that the window stays
	// responsive; only the latest request matters.
	c := newClassifier(m, eng)
	wctx, stopWork := context.WithCancel(ctx)
	jobs := make(chan job, 1)
	answers := make(chan answer, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := range jobs {
			r := c.classify(j.ctx, j.path)
			select {
			case answers <- answer{j.gen, r}:
			case <-wctx.Done():
				return
			}
			glfw.PostEmptyEvent()
		}
	}()
	go func() { // wake the loop when ctx ends (a signal)
		<-wctx.Done()
		glfw.PostEmptyEvent()
	}()
	defer func() {
		stopWork()
		close(jobs)
		wg.Wait()
	}()
	cancelLast := func() {}
	send := func(r request) {
		cancelLast()
		jctx, cancel := context.WithCancel(wctx)
		cancelLast = cancel
		select {
		case <-jobs: // superseded before the worker took it
		default:
		}
		jobs <- job{r, jctx}
	}
	defer func() { cancelLast() }()

	a := &app{files: files, pos: pos, overlay: o.overlay, engine: eng.Name() + ", " + eng.Arithmetic()}
	send(a.request())
	dirty := true
	win.SetKeyCallback(func(_ *glfw.Window, k glfw.Key, _ int, act glfw.Action, _ glfw.ModifierKey) {
		if act == glfw.Release {
			return
		}
		switch actionFor(k) {
		case actNext:
			send(a.step(1))
		case actPrev:
			send(a.step(-1))
		case actFirst:
			send(a.step(-a.pos))
		case actLast:
			send(a.step(len(a.files) - 1 - a.pos))
		case actOverlay:
			a.overlay = !a.overlay
		case actQuit:
			win.SetShouldClose(true)
		default:
			return
		}
		dirty = true
	})
	win.SetFramebufferSizeCallback(func(*glfw.Window, int, int) { dirty = true })
	win.SetRefreshCallback(func(*glfw.Window) { dirty = true })

	var p painter
	var frame *image.RGBA
	title := ""
	lastPoll := time.Now()
	for !win.ShouldClose() && ctx.Err() == nil {
		if dirty {
			dirty = false
			if t := filepath.Base(a.files[a.pos]) + " - vkdeit-view"; t != title {
				win.SetTitle(t)
				title = t
			}
			shown, err := present(win, sc, &p, &frame, a.view())
			if errors.Is(err, gpu.ErrOutOfDate) {
				dirty = true // resized meanwhile: draw again at the new size
			} else if err != nil {
				return err
			}
			if shown {
				logf("shown %dx%d %s", frame.Rect.Dx(), frame.Rect.Dy(), describe(a))
				if o.screenshot != "" && !a.pending {
					if err := writePNG(o.screenshot, frame); err != nil {
						return err
					}
					return a.cur.err
				}
			}
		}
		glfw.WaitEventsTimeout(o.poll.Seconds())
		select {
		case ans := <-answers:
			if a.done(ans.gen, ans.r) {
				dirty = true
			}
		default:
		}
		if time.Since(lastPoll) >= o.poll {
			lastPoll = time.Now()
			if r, ok := a.poll(); ok {
				send(r)
				dirty = true
			}
		}
	}
	return nil
}

// present draws v at the window's size and presents it. It reports false
// when there is nothing to draw into (a minimized window).
func present(win *glfw.Window, sc *gpu.Swapchain, p *painter, frame **image.RGBA, v *view) (bool, error) {
	fw, fh := win.GetFramebufferSize()
	if fw <= 0 || fh <= 0 {
		return false, nil
	}
	if w, h := sc.Size(); w != fw || h != fh {
		if err := sc.Resize(fw, fh); err != nil {
			return false, err
		}
	}
	w, h := sc.Size()
	if *frame == nil || (*frame).Rect.Dx() != w || (*frame).Rect.Dy() != h {
		*frame = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	p.render(*frame, v)
	if err := sc.Present(*frame); err != nil {
		if errors.Is(err, gpu.ErrOutOfDate) {
			if rerr := sc.Resize(fw, fh); rerr != nil {
				return false, rerr
			}
		}
		return false, err
	}
	return true, nil
}

// describe says in one line what the window shows, for the --verbose log.
func describe(a *app) string {
	v := a.view()
	s := fmt.Sprintf("%d/%d %s: ", v.Pos, v.Count, v.Name)
	switch {
	case a.pending:
		s += "classifying"
	case a.cur.err != nil:
		s += "error: " + a.cur.err.Error()
	default:
		top := a.cur.preds[0]
		s += fmt.Sprintf("top-1 %q %.4f", top.Label, top.Score)
	}
	if a.overlay {
		return s + ", overlay on"
	}
	return s + ", overlay off"
}

// glfwCall calls f, a GLFW call that can fail for reasons of the platform
// (no display, no window): go-gl/glfw reports those only through the log
// package and returns nil, so the log is caught and made the error.
func glfwCall(f func() error) error {
	var buf bytes.Buffer
	flags := log.Flags()
	log.SetOutput(&buf)
	log.SetFlags(0)
	defer func() {
		log.SetOutput(os.Stderr)
		log.SetFlags(flags)
	}()
	err := f()
	if err == nil && buf.Len() > 0 {
		err = errors.New(strings.TrimSpace(buf.String()))
	}
	return err
}

// windowSurface creates the window's Vulkan surface on instance.
//
// go-gl/glfw's CreateWindowSurface returns the address of the Go variable
// holding the VkSurfaceKHR, not the handle (the form vulkan-go's
// SurfaceFromPointer reads). Nothing else refers to that variable, so the
// collector is held off until it has been read.
func windowSurface(win *glfw.Window, instance unsafe.Pointer) (uintptr, error) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	addr, err := win.CreateWindowSurface((*struct{})(instance), nil)
	if err != nil {
		return 0, err
	}
	return **(**uintptr)(unsafe.Pointer(&addr)), nil
}

// writePNG writes img to path.
func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--screenshot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("--screenshot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--screenshot %s: %w", path, err)
	}
	return nil
}
