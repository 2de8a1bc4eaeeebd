// Package bench measures vkdeit's forward pass: wall-clock latency and
// throughput per batch size and engine, kernel breakdowns where the engine
// can time its kernels, and every engine on the same input in the same run,
// so each number comes with its baselines measured alongside it.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/hostmem"
	"github.com/vkdeit/vkdeit/internal/humanize"
	"github.com/vkdeit/vkdeit/internal/version"
)

// Target is one engine to measure.
type Target struct {
	// Path names it in the report's tables and ratios: "gpu", "cpu", "ref".
	Path string
	// Open builds the engine for batches up to maxBatch. When it fails
	// with an error wrapping gpu.ErrOutOfMemory, Run drops the largest
	// batch and tries again.
	Open func(maxBatch int) (engine.Engine, error)
	// Batches are the batch sizes to time.
	Batches []int
}

// Options configures Run.
type Options struct {
	// Model is the model to run (real or random weights). Required.
	Model *deit.Model
	// ModelName describes the model in the report, e.g.
	// "random small-distilled (seed 1)" or a repo id.
	ModelName string
	// Targets are the engines to measure, in the order reported. Ratios
	// compare the first with each other; parity compares every engine
	// with the "ref" target when there is one, else with the first.
	Targets []Target
	// Warmup and Iters are the untimed and timed forward passes per batch size.
	Warmup, Iters int
	// MaxTime bounds the whole run: each (target, batch) gets an equal
	// share of what is left, spent on warm-up (a quarter at most), timed
	// passes and, for a Profiler, kernel-timed passes (the last quarter).
	// No pass starts that is expected to end after the deadline: a pass
	// is expected to take as long as the batch's last one, or, before the
	// batch has run, the target's slowest time per image so far times the
	// batch. What does not fit — a batch (engine construction included:
	// targets reached after the deadline are not built), its timed passes
	// after the warm-up, its kernel breakdown — is skipped with a note.
	// Only the first pass of a target, whose time nothing predicts, can
	// overrun. Zero means no bound: exactly Warmup, Iters and ProfileRuns
	// passes.
	MaxTime time.Duration
	// ProfileRuns is the number of kernel-timed passes per batch size of a
	// engine.Profiler engine, for the kernel breakdown (default 3).
	ProfileRuns int
	// Seed makes the random input deterministic.
	Seed int64
	// HostBytes bounds the memory Run may use for input pixels; batches
	// that need more are skipped with a note before anything is
	// allocated. Zero means a quarter of the machine's available memory.
	HostBytes int64
	// Log receives one progress line per measurement; nil discards them.
	Log io.Writer
}

// Run measures the targets and returns the report. Problems that affect
// only one batch size (out of memory, a failed profile, the time bound)
// become notes in the report; anything else is an error, and so is a run
// in which every batch size was skipped (the error gives the reasons).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Model == nil {
		return nil, errors.New("bench: no model")
	}
	if len(opts.Targets) == 0 {
		return nil, errors.New("bench: nothing to run: no targets")
	}
	if opts.Iters < 1 {
		return nil, fmt.Errorf("bench: iterations must be ≥ 1, got %d", opts.Iters)
	}
	if opts.Warmup < 0 {
		return nil, fmt.Errorf("bench: warm-up must be ≥ 0, got %d", opts.Warmup)
	}
	for _, t := range opts.Targets {
		if t.Open == nil {
			return nil, fmt.Errorf("bench: target %q has no Open", t.Path)
		}
		for _, b := range t.Batches {
			if b < 1 {
				return nil, fmt.Errorf("bench: batch size must be ≥ 1, got %d", b)
			}
		}
	}
	if opts.ProfileRuns <= 0 {
		opts.ProfileRuns = 3
	}
	if opts.HostBytes <= 0 {
		opts.HostBytes = hostmem.Available() / 4
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	cfg := opts.Model.Config
	r := &Report{
		Date:          time.Now().UTC().Format(time.RFC3339),
		Commit:        version.Commit(),
		GoVersion:     runtime.Version(),
		Host:          fmt.Sprintf("%s/%s, %d CPUs, GOMAXPROCS %d", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		Model:         opts.ModelName,
		Config:        describeConfig(cfg),
		GFLOPPerImage: cfg.FLOPs() / 1e9,
		Warmup:        opts.Warmup,
		Iters:         opts.Iters,
		MaxTimeSec:    opts.MaxTime.Seconds(),
	}
	run := &runner{opts: opts, r: r, per: cfg.Channels * cfg.ImageSize * cfg.ImageSize, start: time.Now()}
	for _, t := range opts.Targets {
		run.left += len(sortedUnique(t.Batches))
	}

	// One input for every target: the largest batch that fits in HostBytes.
	maxB := 0
	for i := range opts.Targets {
		t := &opts.Targets[i]
		var keep []int
		for _, b := range sortedUnique(t.Batches) {
			if need := int64(b) * int64(run.per) * 4; need > opts.HostBytes {
				run.note("%s batch %d skipped: its input needs %s, more than the %s of host memory set aside for inputs",
					t.Path, b, humanize.Bytes(need), humanize.Bytes(opts.HostBytes))
				run.left--
				continue
			}
			keep = append(keep, b)
			maxB = max(maxB, b)
		}
		t.Batches = keep
	}
	pixels := deit.RandomPixels(cfg, maxB, opts.Seed)

	outs := make([]map[int][]float32, len(opts.Targets))
	for i, t := range opts.Targets {
		p, out, err := run.target(ctx, t, pixels)
		if err != nil {
			return nil, err
		}
		if p != nil {
			r.Paths = append(r.Paths, *p)
			outs[i] = out
		}
	}
	if measured(r) == 0 {
		why := "no batch sizes"
		if len(r.Notes) > 0 {
			why = strings.Join(r.Notes, "; ")
		}
		return nil, fmt.Errorf("bench: nothing was measured: %s", why)
	}
	r.Parity = parity(opts.Targets, outs)
	return r, nil
}

// measured counts the (engine, batch) results in r.
func measured(r *Report) int {
	n := 0
	for _, p := range r.Paths {
		n += len(p.Batches)
	}
	return n
}

// runner is one Run's state.
type runner struct {
	opts  Options
	r     *Report
	per   int
	start time.Time
	left  int // (target, batch) pairs not yet measured or skipped
	// perImage is the current target's slowest forward pass per image so
	// far: what a batch's first pass is expected to take, times its size.
	perImage time.Duration
}

func (run *runner) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	run.r.Notes = append(run.r.Notes, n)
	fmt.Fprintln(run.opts.Log, "bench: "+n)
}

// budget is the time one (target, batch) measurement may take: an equal
// share of what is left of MaxTime; 0 means unbounded, < 0 out of time.
func (run *runner) budget() time.Duration {
	if run.opts.MaxTime <= 0 {
		return 0
	}
	rest := run.rest()
	if rest <= 0 {
		return -1
	}
	return rest / time.Duration(max(run.left, 1))
}

// rest is what is left of MaxTime (meaningless when MaxTime is 0).
func (run *runner) rest() time.Duration { return run.opts.MaxTime - time.Since(run.start) }

// skipAll skips the batches of t, which could not run, with a note.
func (run *runner) skipAll(t Target, batches []int, why string) {
	for _, b := range batches {
		run.note("%s batch %d skipped: %s", t.Path, b, why)
		run.left--
	}
}

// target builds t's engine (lowering the largest batch while it does not
// fit) and measures every batch size it can hold. It returns nil when
// nothing of t could be measured.
func (run *runner) target(ctx context.Context, t Target, pixels []float32) (*PathReport, map[int][]float32, error) {
	cfg := run.opts.Model.Config
	batches := t.Batches
	if len(batches) > 0 && run.budget() < 0 {
		run.skipAll(t, batches, fmt.Sprintf("the --max-time bound of %v was reached before its engine was built", run.opts.MaxTime))
		return nil, nil, nil
	}
	run.perImage = 0
	var eng engine.Engine
	for len(batches) > 0 && eng == nil {
		top := batches[len(batches)-1]
		e, err := t.Open(top)
		switch {
		case err == nil:
			eng = e
		case errors.Is(err, gpu.ErrOutOfMemory):
			run.note("%s batch %d skipped: does not fit in device memory: %v", t.Path, top, err)
			batches = batches[:len(batches)-1]
			run.left--
		default:
			return nil, nil, fmt.Errorf("bench: %s engine for batch %d: %w", t.Path, top, err)
		}
	}
	if eng == nil {
		return nil, nil, nil
	}
	defer eng.Close()
	p := &PathReport{Path: t.Path, Label: eng.Name(), Arithmetic: eng.Arithmetic()}
	if d, ok := eng.(interface{ Device() gpu.DeviceInfo }); ok && run.r.Device == nil {
		info := d.Device()
		run.r.Device = &DeviceSummary{Name: info.Name, Type: info.Type.String(), Driver: info.Driver,
			APIVersion: info.APIVersion, MemoryBytes: info.DeviceLocalBytes}
	}
	if n, ok := eng.(interface{ Notes() []string }); ok {
		for _, note := range n.Notes() {
			run.note("%s: %s", t.Path, note)
		}
	}
	configs, _ := eng.(interface {
		KernelConfigs(B int) ([]engine.KernelChoice, error)
	})
	out := map[int][]float32{}
	profileNoted := false
	for _, b := range batches {
		budget := run.budget()
		if budget < 0 {
			run.note("%s batch %d skipped: the --max-time bound of %v was reached", t.Path, b, run.opts.MaxTime)
			run.left--
			continue
		}
		px := pixels[:b*run.per]
		fwd := func(ctx context.Context) ([]float32, error) { return eng.Forward(ctx, px, b) }
		prof, _ := eng.(engine.Profiler)
		bnd := run.bound(b, budget, prof != nil)
		if est := bnd.est; est > 0 && bnd.max > 0 && est > bnd.rest() {
			run.note("%s batch %d skipped: one pass is expected to take %v (%v per image so far), more than the %v left of --max-time %v",
				t.Path, b, est.Round(time.Millisecond), run.perImage.Round(time.Microsecond), max(bnd.rest(), 0).Round(time.Millisecond), run.opts.MaxTime)
			run.left--
			continue
		}
		lat, logits, err := measure(ctx, run.opts, &bnd, fwd)
		run.left--
		if err == nil && len(lat) == 0 {
			run.note("%s batch %d skipped after its warm-up: a timed pass (%v) would end after the --max-time bound of %v",
				t.Path, b, bnd.est.Round(time.Millisecond), run.opts.MaxTime)
			run.perImage = max(run.perImage, bnd.est/time.Duration(b))
			continue
		}
		if err == nil {
			run.perImage = max(run.perImage, bnd.est/time.Duration(b))
		}
		if errors.Is(err, gpu.ErrOutOfMemory) {
			run.note("%s batch %d skipped: out of device memory: %v", t.Path, b, err)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("bench: %s batch %d: %w", t.Path, b, err)
		}
		br := newBatchResult(b, lat, cfg.FLOPs())
		if prof != nil {
			var runs [][]engine.StepTime
			var dev []float64
			for range run.opts.ProfileRuns {
				if !bnd.fits(bnd.max) {
					break
				}
				t0 := time.Now()
				_, ds, err := prof.Profile(ctx, px, b)
				bnd.est = time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return nil, nil, ctx.Err()
					}
					if !profileNoted {
						run.note("%s: no kernel timings (device time and kernel breakdown missing): %v", t.Path, err)
						profileNoted = true
					}
					break
				}
				runs = append(runs, ds)
				dev = append(dev, DeviceMillis(ds))
			}
			if n := len(runs); n < run.opts.ProfileRuns && !profileNoted {
				if n == 0 {
					run.note("%s batch %d: no kernel breakdown: a kernel-timed pass did not fit in --max-time %v", t.Path, b, run.opts.MaxTime)
				} else {
					run.note("%s batch %d: kernel breakdown from %d of %d kernel-timed passes (--max-time %v)", t.Path, b, n, run.opts.ProfileRuns, run.opts.MaxTime)
				}
			}
			if len(runs) > 0 {
				sort.Float64s(dev)
				br.DeviceMs = Percentile(dev, 50)
				if br.DeviceMs > 0 {
					br.DeviceTFLOPS = cfg.FLOPs() * float64(b) / (br.DeviceMs / 1e3) / 1e12
				}
				br.Kernels = GroupKernels(runs...)
			}
		}
		if configs != nil {
			if br.Configs, err = configs.KernelConfigs(b); err != nil {
				return nil, nil, fmt.Errorf("bench: %s batch %d: %w", t.Path, b, err)
			}
		}
		p.Batches = append(p.Batches, br)
		out[b] = logits
		fmt.Fprintf(run.opts.Log, "bench: %s batch %d: %d iterations, p50 %.2f ms, %.1f img/s\n",
			t.Path, b, br.Latency.N, br.Latency.P50, br.ImgPerSec)
	}
	return p, out, nil
}

// parity compares every target's logits with the baseline's ("ref" if
// measured, else the first target) at the smallest batch both measured.
func parity(targets []Target, outs []map[int][]float32) []Parity {
	base := 0
	for i, t := range targets {
		if t.Path == "ref" && outs[i] != nil {
			base = i
		}
	}
	if outs[base] == nil {
		return nil
	}
	var ps []Parity
	for i, t := range targets {
		if i == base || outs[i] == nil {
			continue
		}
		var bs []int
		for b := range outs[i] {
			if _, ok := outs[base][b]; ok {
				bs = append(bs, b)
			}
		}
		if len(bs) == 0 {
			continue
		}
		b := slices.Min(bs)
		ps = append(ps, Parity{Batch: b, Path: t.Path, Base: targets[base].Path, Diff: Compare(outs[i][b], outs[base][b])})
	}
	return ps
}

// passBound is the time one (target, batch) measurement may take, and what
// its next pass is expected to take.
type passBound struct {
	start    time.Time
	deadline time.Time     // the run's; zero: unbounded
	max      time.Duration // this batch's share (0: unbounded)
	warm     time.Duration // the warm-up's part of max
	timed    time.Duration // where the timed passes stop (the rest is for profiles)
	est      time.Duration // the next pass's expected time; 0: unknown
}

// bound returns the bounds of batch b's measurement, given its share of
// the run (0: unbounded) and whether kernel-timed passes follow.
func (run *runner) bound(b int, share time.Duration, profiled bool) passBound {
	p := passBound{start: time.Now(), max: share, warm: share / 4, timed: share, est: run.perImage * time.Duration(b)}
	if share > 0 {
		p.deadline = run.start.Add(run.opts.MaxTime)
		if profiled {
			p.timed = share * 3 / 4
		}
	}
	return p
}

// rest is the time left before the run's deadline.
func (p *passBound) rest() time.Duration { return time.Until(p.deadline) }

// fits reports whether a pass expected to take p.est still ends within
// limit of the measurement's start and before the run's deadline. An
// unknown estimate fits while any time is left.
func (p *passBound) fits(limit time.Duration) bool {
	if p.max <= 0 {
		return true
	}
	end := time.Now().Add(p.est)
	return !end.After(p.start.Add(limit)) && !end.After(p.deadline)
}

// measure runs the warm-up and timed passes of one forward function within
// p (see Options.MaxTime) and returns the timed latencies and the last
// logits; p.est is left at the last pass's time. The first warm-up pass
// runs when it fits the run's deadline, later ones within the warm-up's
// part; the first timed pass when it fits the deadline, later ones within
// the timed part. No timed latencies and no error means the timed pass did
// not fit.
func measure(ctx context.Context, opts Options, p *passBound, fwd func(context.Context) ([]float32, error)) ([]time.Duration, []float32, error) {
	var logits []float32
	pass := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		out, err := fwd(ctx)
		if err != nil {
			return err
		}
		p.est = time.Since(t0)
		logits = out
		return nil
	}
	all := time.Until(p.deadline) + time.Since(p.start) // the whole rest of the run, from p.start
	for i := range opts.Warmup {
		limit := p.warm
		if i == 0 {
			limit = all
		}
		if !p.fits(limit) {
			break
		}
		if err := pass(); err != nil {
			return nil, nil, err
		}
	}
	var lat []time.Duration
	for i := range opts.Iters {
		limit := p.timed
		if i == 0 {
			limit = all
		}
		if !p.fits(limit) {
			break
		}
		if err := pass(); err != nil {
			return nil, nil, err
		}
		lat = append(lat, p.est)
	}
	return lat, logits, nil
}

// newBatchResult summarizes the timed latencies of batch size b: latency
// statistics, images per second over the summed latencies, and the effective
// TFLOPS at flops per image.
func newBatchResult(b int, lat []time.Duration, flops float64) BatchResult {
	br := BatchResult{Batch: b, Latency: Summarize(lat)}
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	if total > 0 {
		br.ImgPerSec = float64(b*len(lat)) / total.Seconds()
		br.TFLOPS = br.ImgPerSec * flops / 1e12
	}
	return br
}

// sortedUnique returns a sorted copy of xs without repeats.
func sortedUnique(xs []int) []int {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

// describeConfig is the one-line model shape shown in reports.
func describeConfig(c deit.Config) string {
	return fmt.Sprintf("D=%d layers=%d heads=%d mlp=%d image=%d patch=%d labels=%d head=%s",
		c.Hidden, c.Layers, c.Heads, c.MLP, c.ImageSize, c.PatchSize, c.NumLabels, c.Head)
}
