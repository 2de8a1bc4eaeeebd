package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
)

const tuneSynopsis = `tune [flags]

Measures, on this Vulkan device, the fastest configuration of every matrix
product and attention of the model at the given batch sizes and precisions:
for each shape the candidates (kernel designs, tiles, workgroup sizes,
split-K, the cooperative-matrix tilings the device allows), pruned by shared
memory, invocations and padding, are built, checked once against the
float64 reference on that shape (a candidate that fails is dropped and
shown), timed with GPU timestamps (median of --runs) and the fastest kept.
The result is saved under --cache-dir, per device, driver and vkdeit build;
every later classify, serve, bench on this device uses it (shapes not
tuned keep the built-in heuristic). Shapes already in the cache are not
measured again unless --force.`

const tuneExamples = `  vkdeit tune                                    deit-small-distilled shapes, batches 1 and 8, fp32 and fp16
  vkdeit tune --batch 1,8,64,256 --precision fp16
  vkdeit tune --model facebook/deit-base-distilled-patch16-224 --json tune.json
  vkdeit tune --force --runs 9
`

// tuneReport is what --json writes.
type tuneReport struct {
	Device    string          `json:"device"`
	Driver    string          `json:"driver"`
	Model     string          `json:"model"`
	Cache     string          `json:"cache"`
	Tuned     int             `json:"tuned"`  // shapes measured by this run
	Cached    int             `json:"cached"` // shapes taken from the cache
	Precision []tunePrecision `json:"precisions"`
	Notes     []string        `json:"notes,omitempty"`
	Seconds   float64         `json:"seconds"`
}

type tunePrecision struct {
	Precision string            `json:"precision"`
	Results   []gpu.ShapeResult `json:"results"`
}

func runTune(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "tune", tuneSynopsis, tuneExamples)
	preset := fs.String("config", "small-distilled", "random-weight preset whose shapes to tune ("+presetNames+")")
	model := addModelFlags(fs, "")
	device := fs.StringP("device", "d", "gpu", "the Vulkan device to tune: "+deviceHelp)
	batches := fs.StringP("batch", "b", "1,8", "comma-separated batch sizes")
	precisions := fs.String("precision", "fp32,fp16", "comma-separated precisions (fp32, fp16, auto); fp16 is skipped with a note where the device lacks it")
	runs := fs.Int("runs", 5, "timed runs per candidate (their median is its time)")
	maxCands := fs.Int("max-candidates", 0, "measure at most this many candidates per shape after pruning, the heuristic's first (0: all)")
	force := fs.Bool("force", false, "measure shapes the cache already has")
	cacheDir := fs.String("cache-dir", gpu.DefaultCacheDir(), "where tunings are saved (default $XDG_CACHE_HOME/vkdeit)")
	maxTime := fs.Duration("max-time", 30*time.Minute, "bound on the whole run, shared equally by the precisions; shapes measured by then are saved, the others keep the heuristic; 0 = none")
	jsonFile := fs.String("json", "", "also write the results as JSON to `FILE` (- for stdout, the table then goes to stderr)")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar or notes on stderr")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("tune: unexpected arguments %q", fs.Args())
	}
	switch {
	case *runs < 1:
		return usagef("tune: --runs must be ≥ 1, got %d", *runs)
	case *maxCands < 0:
		return usagef("tune: --max-candidates must be ≥ 0, got %d", *maxCands)
	case *maxTime < 0:
		return usagef("tune: --max-time must be ≥ 0, got %v", *maxTime)
	case *cacheDir == "":
		return usagef("tune: --cache-dir: no cache directory ($XDG_CACHE_HOME and $HOME are unset)")
	}
	list, err := parseBatches(*batches)
	if err != nil {
		return usagef("tune: --batch: %v", err)
	}
	precs, err := deit.ParsePrecisions(*precisions)
	if err != nil {
		return usagef("tune: --precision: %v", err)
	}
	if kind, _ := engine.ResolveDevice(*device, ""); kind != engine.KindGPU {
		return usagef("tune: --device %q: tuning needs a Vulkan device", *device)
	}
	var jsonOut *outputFile
	if *jsonFile != "" {
		if jsonOut, err = openOutput(e, *jsonFile); err != nil {
			return err
		}
		defer jsonOut.Discard()
	}
	var m *deit.Model
	name := model.arg
	if model.arg != "" {
		m, err = loadModel(ctx, e, model, *quiet)
	} else {
		m, err = randomModel(*preset, 1)
		name = "random " + *preset
	}
	if err != nil {
		return err
	}
	start := time.Now()
	rep := &tuneReport{Model: name}
	maxB := 0
	for _, b := range list {
		maxB = max(maxB, b)
	}
	var text io.Writer = e.stdout
	if *jsonFile == "-" {
		text = e.stderr
	}
	for pi, prec := range precs {
		// Each precision gets an equal share of the time left.
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if *maxTime > 0 {
			left := *maxTime - time.Since(start)
			pctx, cancel = context.WithTimeout(ctx, left/time.Duration(len(precs)-pi))
		}
		g := gpu.OptionsFromEnv()
		g.Log = e.stderr
		g.CacheDir = *cacheDir
		eng, err := engine.New(m, engine.Options{Device: *device, Precision: prec, MaxBatch: maxB, GPU: g})
		if errors.Is(err, gpu.ErrUnsupported) && len(precs) > 1 {
			cancel()
			rep.Notes = append(rep.Notes, fmt.Sprintf("precision %v skipped: %v", prec, err))
			e.notef(*quiet, "precision %v skipped: %v", prec, err)
			continue
		}
		if err != nil {
			cancel()
			return fmt.Errorf("tune: %w", err)
		}
		ge, ok := eng.(*engine.GPU)
		if !ok {
			cancel()
			eng.Close()
			return usagef("tune: --device %q: tuning needs a Vulkan device", *device)
		}
		// A device that cannot hold the largest batch (engine.New halved it)
		// tunes the batches that fit; the others keep the heuristic.
		fit := slices.DeleteFunc(slices.Clone(list), func(b int) bool { return b > ge.MaxBatch() })
		if len(fit) < len(list) {
			msg := fmt.Sprintf("%v: batches above %d do not fit on %s: not tuned", prec, ge.MaxBatch(), ge.Device().Name)
			rep.Notes = append(rep.Notes, msg)
			e.notef(*quiet, "%s", msg)
		}
		res, err := tuneOne(pctx, e, ge, fit, *runs, *maxCands, *force, *quiet)
		info := ge.Device()
		ge.Close()
		timedOut := err != nil && pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if timedOut {
			// --max-time: keep the shapes completed; the rest keep the heuristic.
			msg := fmt.Sprintf("%v: stopped by --max-time after %d shapes: %v", prec, len(res), err)
			rep.Notes = append(rep.Notes, msg)
			e.notef(*quiet, "%s", msg)
		} else if err != nil {
			return err
		}
		rep.Device, rep.Driver = info.Name, info.Driver
		rep.Cache = gpu.TuningPath(*cacheDir, info)
		fresh := &gpu.Tuning{Entries: map[string]gpu.TuneEntry{}}
		for _, r := range res {
			if r.Cached {
				rep.Cached++
			} else if _, dup := fresh.Entries[r.Shape.Key()]; !dup {
				rep.Tuned++
				fresh.Entries[r.Shape.Key()] = r.Entry
			}
		}
		if len(fresh.Entries) > 0 {
			if _, err := gpu.SaveTuning(*cacheDir, info, fresh); err != nil {
				return fmt.Errorf("tune: %w", err)
			}
		}
		rep.Precision = append(rep.Precision, tunePrecision{Precision: ge.Precision().String(), Results: res})
		writeTuneTable(text, ge.Precision(), res)
	}
	if len(rep.Precision) == 0 {
		return fmt.Errorf("tune: nothing tuned: %s", strings.Join(rep.Notes, "; "))
	}
	rep.Seconds = time.Since(start).Seconds()
	if rep.Tuned == 0 && rep.Cached == 0 {
		e.notef(*quiet, "nothing tuned within --max-time %v", *maxTime)
	} else if rep.Tuned == 0 {
		e.notef(*quiet, "all %d shapes came from the cache %s: nothing tuned (--force measures again)", rep.Cached, rep.Cache)
	} else {
		e.notef(*quiet, "tuned %d shapes (%d from the cache) in %.1fs; saved to %s", rep.Tuned, rep.Cached, rep.Seconds, rep.Cache)
	}
	if jsonOut != nil {
		enc := json.NewEncoder(jsonOut)
		enc.SetIndent("", " ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
		return jsonOut.Commit()
	}
	return nil
}

// tuneOne tunes one engine's shapes with a progress bar over the candidates.
func tuneOne(ctx context.Context, e *env, g *engine.GPU, batches []int, runs, maxCands int, force, quiet bool) ([]gpu.ShapeResult, error) {
	var bar *progress
	opts := gpu.TuneOptions{Runs: runs, MaxCandidates: maxCands, Force: force, Progress: func(p gpu.TuneProgress) {
		if bar == nil {
			bar = newProgress(e, quiet, int64(p.Total), "candidates")
		}
		bar.Set(int64(p.Done))
	}}
	res, _, err := g.Tune(ctx, batches, opts)
	bar.Finish()
	for _, r := range res {
		for _, c := range r.Candidates {
			if c.Err != "" {
				e.notef(quiet, "tune: %s: %v dropped: %s", r.Shape.Key(), c.Config, c.Err)
			}
		}
	}
	return res, err
}

// writeTuneTable prints the winners: shape, the step it is, configuration,
// time, TFLOPS, speed-up over the heuristic, and where it came from.
func writeTuneTable(w io.Writer, prec deit.Precision, res []gpu.ShapeResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%v\tshape\tstep\tconfiguration\tµs\tTFLOPS\tvs heuristic\tsource\n", prec)
	for _, r := range res {
		src := fmt.Sprintf("measured %d", len(r.Candidates))
		if failed := countFailed(r); failed > 0 {
			src += fmt.Sprintf(" (%d dropped)", failed)
		}
		if r.Cached {
			src = "cache"
		}
		tflops := 0.0
		if r.Entry.Micros > 0 {
			tflops = r.Shape.FLOPs() / r.Entry.Micros / 1e6
		}
		fmt.Fprintf(tw, "\t%s\t%s\t%v\t%.1f\t%.3f\t%.2f×\t%s\n", r.Shape.Key(), r.Shape.Description, r.Entry.Config,
			r.Entry.Micros, tflops, r.Speedup(), src)
	}
	tw.Flush()
}

func countFailed(r gpu.ShapeResult) int {
	n := 0
	for _, c := range r.Candidates {
		if c.Err != "" {
			n++
		}
	}
	return n
}
