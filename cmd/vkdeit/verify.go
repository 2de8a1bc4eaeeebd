package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/vkdeit/vkdeit/bench"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/loader/hub"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

const verifySynopsis = `verify [flags] [IMAGE...]

Runs the GPU engine and the pure-Go CPU reference on the same inputs and
prints, per image, the largest absolute and the relative L2 difference of the
logits (‖gpu − cpu‖ / ‖cpu‖) and whether the top-5 classes agree (classes whose
CPU logits differ by less than twice the largest difference count as ties).
Without images it uses a deterministic random input. The exit status is 1 when
a relative difference exceeds --tol or the top-5 disagree.`

const verifyExamples = `  vkdeit verify                                   default model, random input
  vkdeit verify samples/grace_hopper.jpg
  vkdeit verify --random small-distilled          random weights, nothing downloaded
  vkdeit verify --random tiny --batch 4 --tol 1e-5
`

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify", verifySynopsis, verifyExamples)
	model := fs.String("model", hub.DefaultModel, "model: a directory, a weights file, or a Hugging Face repo id[@revision]")
	random := fs.String("random", "", "use random weights of this preset ("+presetNames+") instead of --model")
	seed := fs.Int64("seed", 1, "seed of the random weights and input")
	batch := fs.Int("batch", 2, "images per forward pass (and random inputs when no image is given)")
	tol := fs.Float64("tol", 1e-4, "largest relative L2 difference accepted")
	noEXIF := fs.Bool("no-exif", false, "ignore the EXIF orientation tag")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if *batch < 1 || *batch > maxVerifyBatch {
		return usagef("verify: --batch must be in 1..%d, got %d", maxVerifyBatch, *batch)
	}
	var m *deit.Model
	var err error
	name := *model
	if *random != "" {
		m, err = randomModel(*random, *seed)
		name = fmt.Sprintf("random %s (seed %d)", *random, *seed)
	} else {
		m, err = loadModel(ctx, e, *model)
	}
	if err != nil {
		return err
	}
	cfg := m.Config
	per := cfg.Channels * cfg.ImageSize * cfg.ImageSize

	// Inputs: images, or random pixels.
	var names []string
	var pixels []float32
	if fs.NArg() == 0 {
		pixels = bench.RandomPixels(cfg, *batch, *seed)
		for i := 0; i < *batch; i++ {
			names = append(names, fmt.Sprintf("random[%d]", i))
		}
	} else {
		ins, errs, warnings := expandInputs(fs.Args(), e.stdin)
		for _, w := range warnings {
			fmt.Fprintf(e.stderr, "vkdeit: %s\n", w)
		}
		for _, err := range errs {
			fmt.Fprintf(e.stderr, "vkdeit: %v\n", err)
		}
		if len(errs) > 0 {
			return errFailed
		}
		pre := m.Pre
		if pre == nil {
			pre = imageio.DefaultPreprocessor()
		}
		c := &classifier{pre: pre, opts: imageio.DecodeOptions{NoEXIF: *noEXIF}}
		for _, in := range ins {
			px, err := c.prepare(in)
			if err != nil {
				return err
			}
			if len(px) != per {
				return fmt.Errorf("%s: preprocessing gave %d values, the model takes %d", in.name, len(px), per)
			}
			names = append(names, in.name)
			pixels = append(pixels, px...)
		}
	}
	n := len(names)
	if n == 0 {
		return fmt.Errorf("verify: no images to compare in %s", strings.Join(fs.Args(), " "))
	}

	g, err := openForwarder("gpu", m, min(*batch, n), e.stderr)
	if err != nil {
		return err
	}
	defer g.Close()
	cpu := &cpuForwarder{m: m, batch: g.MaxBatch()}
	var gl, cl []float32
	for s := 0; s < n; s += g.MaxBatch() {
		b := min(g.MaxBatch(), n-s)
		px := pixels[s*per : (s+b)*per]
		out, err := g.Forward(ctx, px, b)
		if err != nil {
			return fmt.Errorf("gpu forward: %w", err)
		}
		gl = append(gl, out...)
		out, err = cpu.Forward(ctx, px, b)
		if err != nil {
			return fmt.Errorf("cpu forward: %w", err)
		}
		cl = append(cl, out...)
	}

	fmt.Fprintf(e.stdout, "verify %s: %s against %s\n", name, g.Name(), cpu.Name())
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "input\tmax abs\trel L2\tworst class\ttop-5")
	ok := true
	worst := 0.0
	for i := 0; i < n; i++ {
		L := cfg.NumLabels
		a, b := gl[i*L:(i+1)*L], cl[i*L:(i+1)*L]
		d := bench.Compare(a, b)
		agree, why := topAgree(a, b, 5, d.MaxAbs)
		if !agree || !(d.RelL2 <= *tol) {
			ok = false
		}
		worst = math.Max(worst, d.RelL2)
		fmt.Fprintf(tw, "%s\t%.3g\t%.3g\t%d\t%s\n", names[i], d.MaxAbs, d.RelL2, d.Worst, why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("verify failed: worst relative L2 difference %.3g (tolerance %.3g) or top-5 disagree", worst, *tol)
	}
	fmt.Fprintf(e.stdout, "ok: worst relative L2 difference %.3g ≤ %.3g, top-5 agree\n", worst, *tol)
	return nil
}

// topAgree compares the top-k classes of got and want. A rank where they name
// different classes still agrees when want's logits of the two classes are
// within 2·tie of each other (a tie that the numerical difference may flip).
func topAgree(got, want []float32, k int, tie float64) (bool, string) {
	tg, tw := topK(got, k), topK(want, k)
	ties := 0
	for r := range tw {
		if tg[r] == tw[r] {
			continue
		}
		if math.Abs(float64(want[tg[r]])-float64(want[tw[r]])) <= 2*tie {
			ties++
			continue
		}
		return false, fmt.Sprintf("DIFFER at rank %d: gpu %v, cpu %v", r+1, tg, tw)
	}
	if ties > 0 {
		return true, fmt.Sprintf("agree (%d swapped ties)", ties)
	}
	return true, "agree"
}

// maxVerifyBatch bounds --batch: verify runs the CPU reference on every
// image too, and random inputs are allocated up front.
const maxVerifyBatch = 1024
