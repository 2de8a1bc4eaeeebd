// Command vkdeit-view is a desktop viewer for DeiT classifications: a window
// showing an image (the model's input crop), its top-5 classes with their
// scores and, toggled with A, a map of the patches drawn over the image. The
// arrow keys step through the image's folder, and a file that changes on
// disk is classified again.
//
//	vkdeit-view photo.jpg                  the photo and the other images of its folder
//	vkdeit-view --model testdata/tiny-distilled --overlay dir/
//	vkdeit-view --screenshot shot.png photo.jpg   save the first complete frame and exit
//
// The window is presented through a Vulkan swapchain on the same device that
// runs the model (GLFW makes the window and its Vulkan surface; no OpenGL).
// It is a separate command from vkdeit so that the CLI needs no X11 or
// Wayland libraries: building it needs GLFW's (see the README, make view).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/hub"
)

// options are the command's flags.
type options struct {
	model      string
	device     string
	precision  deit.Precision
	width      int
	height     int
	overlay    bool
	poll       time.Duration
	screenshot string
	verbose    bool
	path       string
}

// usageError is a bad command line: exit status 2.
type usageError struct{ error }

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the command; it returns the exit status.
func run(args []string, stderr io.Writer) int {
	opts, err := parseArgs(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vkdeit-view: %v\n", err)
		if errors.As(err, &usageError{}) {
			fmt.Fprintln(stderr, "run 'vkdeit-view --help' for usage")
			return 2
		}
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runViewer(ctx, opts, stderr); err != nil {
		fmt.Fprintf(stderr, "vkdeit-view: %v\n", err)
		return 1
	}
	return 0
}

// parseArgs reads the flags and the one PATH argument.
func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := pflag.NewFlagSet("vkdeit-view", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVarP(&o.model, "model", "m", hub.DefaultModel, "model: a directory, a weights file, or a Hugging Face repo id[@revision] (downloaded once)")
	fs.StringVarP(&o.device, "device", "d", "", "Vulkan device index or name substring (default: $VKDEIT_DEVICE, else the preferred GPU)")
	fs.Var(&o.precision, "precision", "arithmetic: fp32, fp16 or auto")
	size := fs.String("size", "900x500", "window size WIDTHxHEIGHT in pixels")
	fs.BoolVar(&o.overlay, "overlay", false, "start with the map overlay on (the A key toggles it)")
	fs.DurationVar(&o.poll, "poll", 500*time.Millisecond, "how often the shown file is checked for changes")
	fs.StringVar(&o.screenshot, "screenshot", "", "write the first frame showing a classification to this PNG file and exit")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "log each frame shown (and the X11 window id) to stderr")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vkdeit-view [flags] IMAGE|FOLDER\n\n"+
			"Shows an image with its top-%d classes and a map overlay; keys:\n"+
			"  Right/Down/Space next image, Left/Up/Backspace previous, Home/End first/last,\n"+
			"  A or Tab overlay on/off, Q or Escape quit.\n\nflags:\n", topK)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() != 1 {
		return nil, usageError{fmt.Errorf("want one IMAGE or FOLDER argument, got %d", fs.NArg())}
	}
	o.path = fs.Arg(0)
	w, h, err := parseSize(*size)
	if err != nil {
		return nil, usageError{fmt.Errorf("--size %q: %w", *size, err)}
	}
	o.width, o.height = w, h
	if o.poll <= 0 {
		return nil, usageError{fmt.Errorf("--poll %v: must be positive", o.poll)}
	}
	return o, nil
}

// parseSize reads WIDTHxHEIGHT, each side 64 to 8192 pixels.
func parseSize(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, errors.New("want WIDTHxHEIGHT, e.g. 900x500")
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("want WIDTHxHEIGHT, e.g. 900x500")
	}
	if w < 64 || h < 64 || w > 8192 || h > 8192 {
		return 0, 0, errors.New("each side must be 64 to 8192 pixels")
	}
	return w, h, nil
}
