package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

const classifySynopsis = `classify [flags] PATH...

Classifies images and prints the top-k labels of each, with probabilities
(softmax of the logits). PATH is an image file, a directory (searched
recursively for jpg, jpeg, png, gif, bmp, tif, tiff and webp files) or "-" for
standard input. Results come in input order. An image that cannot be read is
reported on stderr with its name and the problem; the others are still
classified and the exit status is 1 at the end.`

const classifyExamples = `  vkdeit classify samples/grace_hopper.jpg
  vkdeit classify --top 3 photos/ more.png
  curl -s https://example.org/cat.jpg | vkdeit classify -
  vkdeit classify --json --device cpu samples/ | jq '.top[0].label'
  vkdeit classify --model ~/models/deit-tiny photo.jpg      (a directory)
  vkdeit classify --model facebook/deit-base-distilled-patch16-224@main photo.jpg
`

// classifyResult is one image's JSON line.
type classifyResult struct {
	Path      string       `json:"path"`
	Top       []prediction `json:"top"`
	Device    string       `json:"device"`
	Model     string       `json:"model"`
	BatchSize int          `json:"batch_size"`
	Timing    timing       `json:"timing_ms"`
}

type timing struct {
	// Preprocess is this image's decode + resize + normalize time.
	Preprocess float64 `json:"preprocess"`
	// Forward is the wall time of the forward pass of the batch holding it.
	Forward float64 `json:"forward"`
}

// slot is one input's preprocessing result, filled by a worker.
type slot struct {
	pixels []float32
	err    error
	prepMs float64
	done   chan struct{}
}

func runClassify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "classify", classifySynopsis, classifyExamples)
	model := fs.String("model", hub.DefaultModel, "model: a directory, a weights file, or a Hugging Face repo id[@revision]")
	top := fs.Int("top", 5, "number of labels per image (more than the model has prints all)")
	batch := fs.Int("batch", 8, "images per GPU submission")
	device := fs.String("device", "auto", "auto (a Vulkan device if any, else the CPU), gpu, or cpu")
	jsonOut := fs.Bool("json", false, "print one JSON object per image and line")
	noEXIF := fs.Bool("no-exif", false, "ignore the EXIF orientation tag")
	workers := fs.Int("workers", runtime.NumCPU(), "images decoded and preprocessed in parallel")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := checkDeviceFlag("classify", *device); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		return usagef("classify: no images given (run \"vkdeit classify --help\")")
	case *top < 1:
		return usagef("classify: --top must be ≥ 1, got %d", *top)
	case *batch < 1:
		return usagef("classify: --batch must be ≥ 1, got %d", *batch)
	case *workers < 1:
		return usagef("classify: --workers must be ≥ 1, got %d", *workers)
	}

	ins, inErrs, warnings := expandInputs(fs.Args(), e.stdin)
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "vkdeit: %s\n", w)
	}
	for _, err := range inErrs {
		fmt.Fprintf(e.stderr, "vkdeit: %v\n", err)
	}
	if len(ins) == 0 {
		if len(inErrs) > 0 {
			return errFailed
		}
		return fmt.Errorf("no images to classify")
	}

	m, err := loadModel(ctx, e, *model)
	if err != nil {
		return err
	}
	pre := m.Pre
	if pre == nil {
		pre = imageio.DefaultPreprocessor()
	}
	fwd, err := openForwarder(*device, m, min(*batch, len(ins)), e.stderr)
	if err != nil {
		return err
	}
	defer fwd.Close()

	c := &classifier{
		e: e, m: m, pre: pre, fwd: fwd, ins: ins, top: *top, json: *jsonOut, model: *model,
		opts: imageio.DecodeOptions{NoEXIF: *noEXIF}, workers: *workers,
	}
	if len(ins) >= 8 && e.stderrTerminal() {
		c.prog = newProgress(e.stderr, len(ins))
	}
	failed, err := c.run(ctx)
	c.prog.Finish()
	if err != nil {
		return err
	}
	if failed += len(inErrs); failed > 0 {
		fmt.Fprintf(e.stderr, "vkdeit: %d of %d inputs could not be classified\n", failed, len(ins)+len(inErrs))
		return errFailed
	}
	return nil
}

// classifier runs the decode → batch → forward → print pipeline.
type classifier struct {
	e       *env
	m       *deit.Model
	pre     *imageio.Preprocessor
	fwd     forwarder
	ins     []input
	top     int
	json    bool
	model   string
	opts    imageio.DecodeOptions
	workers int
	prog    *progress
}

// run classifies every input in order. Decoding and preprocessing run on
// c.workers goroutines ahead of the forward passes (at most a few batches
// ahead, to bound memory). It returns the number of images that failed; the
// error is for failures that stop everything (the device, cancellation).
func (c *classifier) run(ctx context.Context) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Stop the feeder and wait for the workers on every return path.
	defer func() { cancel(); wg.Wait() }()
	n := len(c.ins)
	B := c.fwd.MaxBatch()
	slots := make([]slot, n)
	for i := range slots {
		slots[i].done = make(chan struct{})
	}
	ahead := make(chan struct{}, 2*B+c.workers)
	jobs := make(chan int)
	go func() {
		defer close(jobs)
		for i := 0; i < n; i++ {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < min(c.workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t0 := time.Now()
				slots[i].pixels, slots[i].err = c.prepare(c.ins[i])
				slots[i].prepMs = msSince(t0)
				close(slots[i].done)
			}
		}()
	}
	cfg := c.m.Config
	per := cfg.Channels * cfg.ImageSize * cfg.ImageSize
	batchBuf := make([]float32, 0, B*per)
	var batchIdx, pending []int
	failed := 0
	flush := func(logits []float32, fwdMs float64) error {
		k := 0
		for _, i := range pending {
			if err := slots[i].err; err != nil {
				failed++
				c.prog.Fprintf(c.e.stderr, "vkdeit: %v\n", err)
				continue
			}
			l := logits[k*cfg.NumLabels : (k+1)*cfg.NumLabels]
			k++
			if err := c.print(c.ins[i].name, l, len(batchIdx), slots[i].prepMs, fwdMs); err != nil {
				return err
			}
		}
		c.prog.Add(len(pending))
		pending, batchIdx, batchBuf = pending[:0], batchIdx[:0], batchBuf[:0]
		return nil
	}
	runBatch := func() error {
		if len(batchIdx) == 0 {
			return flush(nil, 0)
		}
		t0 := time.Now()
		logits, err := c.fwd.Forward(ctx, batchBuf, len(batchIdx))
		if err != nil {
			return fmt.Errorf("forward pass on %s (batch of %d starting with %s): %w", c.fwd.Name(), len(batchIdx), c.ins[batchIdx[0]].name, err)
		}
		if len(logits) != len(batchIdx)*cfg.NumLabels {
			return fmt.Errorf("forward pass on %s returned %d logits for %d images of %d classes", c.fwd.Name(), len(logits), len(batchIdx), cfg.NumLabels)
		}
		return flush(logits, msSince(t0))
	}
	for i := 0; i < n; i++ {
		select {
		case <-slots[i].done:
		case <-ctx.Done():
			return failed, ctx.Err()
		}
		<-ahead
		pending = append(pending, i)
		if slots[i].err == nil {
			if len(slots[i].pixels) != per {
				slots[i].err = fmt.Errorf("%s: preprocessing gave %d values, the model takes %d (%d×%d×%d); check preprocessor_config.json",
					c.ins[i].name, len(slots[i].pixels), per, cfg.Channels, cfg.ImageSize, cfg.ImageSize)
			} else {
				batchIdx = append(batchIdx, i)
				batchBuf = append(batchBuf, slots[i].pixels...)
				slots[i].pixels = nil
			}
		}
		if len(batchIdx) == B || len(batchIdx) == 0 {
			if err := runBatch(); err != nil {
				return failed, err
			}
		}
	}
	if err := runBatch(); err != nil {
		return failed, err
	}
	return failed, nil
}

// prepare decodes and preprocesses one input; errors name the input.
func (c *classifier) prepare(in input) ([]float32, error) {
	var img *imageio.Image
	var err error
	if in.path == "" {
		img, err = imageio.Decode(bytes.NewReader(in.data), c.opts)
	} else {
		img, err = imageio.Load(in.path, c.opts)
	}
	if err != nil {
		return nil, nameErr(in.name, err)
	}
	px, err := c.pre.Apply(img)
	if err != nil {
		return nil, nameErr(in.name, err)
	}
	return px, nil
}

// nameErr makes sure the error message starts with or contains the input name.
func nameErr(name string, err error) error {
	if name != "-" && strings.Contains(err.Error(), name) {
		return err
	}
	if name == "-" {
		name = "standard input"
	}
	return fmt.Errorf("%s: %w", name, err)
}

// print writes one image's result as a table or a JSON line.
func (c *classifier) print(name string, logits []float32, batch int, prepMs, fwdMs float64) error {
	preds := predict(logits, c.top, c.m.Config.Labels)
	if c.json {
		b, err := json.Marshal(classifyResult{Path: name, Top: preds, Device: c.fwd.Name(), Model: c.model,
			BatchSize: batch, Timing: timing{Preprocess: round3(prepMs), Forward: round3(fwdMs)}})
		if err != nil {
			return fmt.Errorf("%s: json: %w", name, err)
		}
		c.prog.Fprintf(c.e.stdout, "%s\n", b)
		return nil
	}
	c.prog.Fprintf(c.e.stdout, "%s", formatTable(name, preds, c.m.Config.NumLabels))
	return nil
}

// formatTable renders one image's predictions as an aligned table.
func formatTable(name string, preds []prediction, numLabels int) string {
	var b strings.Builder
	if name == "-" {
		name = "(standard input)"
	}
	fmt.Fprintf(&b, "%s\n", name)
	rw := len(fmt.Sprint(len(preds)))
	iw := len(fmt.Sprint(max(numLabels-1, 0)))
	for _, p := range preds {
		fmt.Fprintf(&b, "  %*d  %7.3f%%  %*d  %s\n", rw, p.Rank, 100*p.Probability, iw, p.Index, p.Label)
	}
	return b.String()
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1e3 }

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
