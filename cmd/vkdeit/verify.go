package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/vkdeit/vkdeit/bench"
	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
)

const verifySynopsis = `verify [flags] [IMAGE...]

Runs an engine (--device, default auto) and the float64 reference on the same
inputs and prints, per image, the largest absolute and the relative L2
difference of the logits (‖engine − reference‖ / ‖reference‖) and whether the
top-5 classes agree (classes whose reference logits differ by less than twice
the largest difference count as ties). Without images it uses a deterministic
random input. The exit status is 1 when a relative difference exceeds --tol or
the top-5 disagree.`

const verifyExamples = `  vkdeit verify                                   default model, random input
  vkdeit verify samples/grace_hopper.jpg
  vkdeit verify --random small-distilled          random weights, nothing downloaded
  vkdeit verify --random tiny --device cpu --batch 4 --tol 1e-5
`

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify", verifySynopsis, verifyExamples)
	model := modelFlag(fs)
	random := fs.String("random", "", "use random weights of this preset ("+presetNames+") instead of --model")
	seed := fs.Int64("seed", 1, "seed of the random weights and input")
	ef := addEngineFlags(fs, 2)
	tol := fs.Float64("tol", 1e-4, "largest relative L2 difference accepted (> 0); an fp16 engine's default is 3e-3")
	df := addDecodeFlags(fs)
	quiet := fs.BoolP("quiet", "q", false, "no notes on stderr")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := ef.check("verify"); err != nil {
		return err
	}
	decode, err := df.options("verify")
	if err != nil {
		return err
	}
	if ef.batch > maxVerifyBatch {
		return usagef("verify: --batch must be in 1..%d, got %d", maxVerifyBatch, ef.batch)
	}
	if !(*tol > 0) || math.IsInf(*tol, 0) {
		return usagef("verify: --tol must be a positive number, got %v", *tol)
	}
	var m *deit.Model
	name := model.arg
	if *random != "" {
		m, err = randomModel(*random, *seed)
		name = fmt.Sprintf("random %s (seed %d)", *random, *seed)
	} else {
		m, err = loadModel(ctx, e, model, *quiet)
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
		pixels = deit.RandomPixels(cfg, ef.batch, *seed)
		for i := range ef.batch {
			names = append(names, fmt.Sprintf("random[%d]", i))
		}
	} else {
		ins, errs, warnings := expandInputs(fs.Args(), e.stdin)
		errs = forCommand(errs, "verify")
		for _, w := range warnings {
			e.notef(*quiet, "%s", w)
		}
		for _, err := range errs {
			fmt.Fprintf(e.stderr, "vkdeit: %v\n", err)
		}
		if len(errs) > 0 {
			return errFailed
		}
		decode.Budget.LimitProcessMemory() // the model is loaded: bound the decodes
		for _, in := range ins {
			px, err := classify.Prepare(ctx, m, in, decode)
			if err != nil {
				return err
			}
			names = append(names, displayName(inputName(in)))
			pixels = append(pixels, px...)
		}
	}
	n := len(names)
	if n == 0 {
		return fmt.Errorf("verify: no images to compare in %s", strings.Join(fs.Args(), " "))
	}

	eng, err := openEngineFor(e, m, engineRequest{device: ef.device, prec: ef.prec, maxBatch: min(ef.batch, n), threads: ef.threads}, *quiet)
	if err != nil {
		return err
	}
	defer eng.Close()
	if t, ok := narrowTol(eng.Precision()); ok && !fs.Changed("tol") {
		*tol = t
	}
	ref, err := engine.NewReference(m, eng.MaxBatch(), engine.ReferenceOptions{Threads: ef.threads})
	if err != nil {
		return err
	}
	var gl, rl []float32
	for s := 0; s < n; s += eng.MaxBatch() {
		b := min(eng.MaxBatch(), n-s)
		px := pixels[s*per : (s+b)*per]
		out, err := eng.Forward(ctx, px, b)
		if err != nil {
			return fmt.Errorf("%s: %w", eng.Name(), err)
		}
		gl = append(gl, out...)
		if out, err = ref.Forward(ctx, px, b); err != nil {
			return err
		}
		rl = append(rl, out...)
	}

	fmt.Fprintf(e.stdout, "verify %s: %s against %s\n", name, eng.Name(), ref.Name())
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "input\tmax abs\trel L2\tworst class\ttop-5")
	ok := true
	worst := 0.0
	for i := range n {
		L := cfg.NumLabels
		a, b := gl[i*L:(i+1)*L], rl[i*L:(i+1)*L]
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
	tg, tw := topIndices(got, k), topIndices(want, k)
	if len(tg) != len(tw) || len(tw) == 0 {
		return false, "DIFFER: non-finite logits"
	}
	ties := 0
	for r := range tw {
		if tg[r] == tw[r] {
			continue
		}
		if math.Abs(float64(want[tg[r]])-float64(want[tw[r]])) <= 2*tie {
			ties++
			continue
		}
		return false, fmt.Sprintf("DIFFER at rank %d: engine %v, reference %v", r+1, tg, tw)
	}
	if ties > 0 {
		return true, fmt.Sprintf("agree (%d swapped ties)", ties)
	}
	return true, "agree"
}

// topIndices is the class indices of classify.TopK, for comparisons; logits
// that are not finite rank nothing.
func topIndices(logits []float32, k int) []int {
	top, _ := classify.TopK(logits, k, nil)
	idx := make([]int, len(top))
	for i, p := range top {
		idx[i] = p.Index
	}
	return idx
}

// narrowTol are verify's default tolerances below fp32 (docs/precision.md):
// deit-small's fp16 logits measure about 1e-3 relative L2 from the
// reference, its bf16 ones (8 significant bits) about 7e-3; fp32 ones about
// 1e-6 (the --tol default).
func narrowTol(p deit.Precision) (float64, bool) {
	switch p {
	case deit.FP16:
		return 3e-3, true
	case deit.BF16:
		return 1.5e-2, true
	}
	return 0, false
}

// maxVerifyBatch bounds --batch: verify runs the reference on every image
// too, and random inputs are allocated up front.
const maxVerifyBatch = 1024
