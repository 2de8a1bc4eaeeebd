// Package bench measures vkdeit's forward pass: wall-clock latency and
// throughput per batch size, GPU device time and a per-kernel breakdown from
// timestamps, and the pure-Go CPU reference path on the same input in the same
// run, so every number comes with a baseline measured alongside it.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"time"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// Options configures Run.
type Options struct {
	// Model is the model to run (real or random weights). Required.
	Model *deit.Model
	// ModelName describes the model in the report, e.g.
	// "random small-distilled (seed 1)" or a repo id.
	ModelName string
	// Device runs the GPU engine when non-nil. Run does not close it.
	Device *gpu.Device
	// Batches are the GPU batch sizes to measure. Sizes that do not fit in
	// device memory are skipped with a note in the report.
	Batches []int
	// CPU includes the CPU reference path (deit.Model.ForwardReference) at
	// CPUBatches, on the same input.
	CPU        bool
	CPUBatches []int
	// Warmup and Iters are the untimed and timed forward passes per batch size.
	Warmup, Iters int
	// MaxTime caps the time spent in timed iterations per (path, batch size)
	// (warm-up gets a quarter of it); at least min(3, Iters) timed passes run
	// regardless. Zero means no cap: exactly Iters passes.
	MaxTime time.Duration
	// ProfileRuns is the number of timestamped forward passes per GPU batch
	// size used for device time and the kernel breakdown (default 3).
	ProfileRuns int
	// Seed makes the random input deterministic.
	Seed int64
	// Log receives one progress line per measurement; nil discards them.
	Log io.Writer
}

// Run measures the configured paths and returns the report. Problems that
// affect only one batch size (out of device memory, a failed profile) become
// notes in the report; anything else is an error.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Model == nil {
		return nil, errors.New("bench: no model")
	}
	if opts.Device == nil && !opts.CPU {
		return nil, errors.New("bench: nothing to run: no GPU device and the CPU path not requested")
	}
	if opts.Iters < 1 {
		return nil, fmt.Errorf("bench: iterations must be ≥ 1, got %d", opts.Iters)
	}
	if opts.Warmup < 0 {
		return nil, fmt.Errorf("bench: warm-up must be ≥ 0, got %d", opts.Warmup)
	}
	for _, list := range [][]int{opts.Batches, opts.CPUBatches} {
		for _, b := range list {
			if b < 1 {
				return nil, fmt.Errorf("bench: batch size must be ≥ 1, got %d", b)
			}
		}
	}
	if opts.ProfileRuns <= 0 {
		opts.ProfileRuns = 3
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	cfg := opts.Model.Config
	r := &Report{
		Date:          time.Now().UTC().Format(time.RFC3339),
		Commit:        Commit(),
		GoVersion:     runtime.Version(),
		Host:          fmt.Sprintf("%s/%s, %d CPUs, GOMAXPROCS %d", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		Model:         opts.ModelName,
		Config:        describeConfig(cfg),
		GFLOPPerImage: cfg.FLOPs() / 1e9,
		Warmup:        opts.Warmup,
		Iters:         opts.Iters,
		MaxTimeSec:    opts.MaxTime.Seconds(),
	}

	maxB := 1
	for _, b := range append(slices.Clone(opts.Batches), opts.CPUBatches...) {
		maxB = max(maxB, b)
	}
	pixels := RandomPixels(cfg, maxB, opts.Seed)
	per := cfg.Channels * cfg.ImageSize * cfg.ImageSize

	var gpuOut, cpuOut map[int][]float32
	if opts.Device != nil {
		info := opts.Device.Info()
		r.Device = &DeviceSummary{Name: info.Name, Type: info.Type.String(), Driver: info.Driver,
			APIVersion: info.APIVersion, MemoryBytes: info.DeviceLocalBytes}
		p, out, err := runGPU(ctx, opts, r, pixels, per, log)
		if err != nil {
			return nil, err
		}
		r.Paths = append(r.Paths, p)
		gpuOut = out
	}
	if opts.CPU {
		p := PathReport{Path: "cpu", Label: fmt.Sprintf("CPU reference (Go, %d threads)", runtime.GOMAXPROCS(0))}
		cpuOut = map[int][]float32{}
		for _, b := range sortedUnique(opts.CPUBatches) {
			fwd := func(ctx context.Context) ([]float32, error) {
				res, err := opts.Model.ForwardReference(ctx, pixels[:b*per], b)
				if err != nil {
					return nil, err
				}
				return res.Logits, nil
			}
			lat, logits, err := measure(ctx, opts, fwd)
			if err != nil {
				return nil, fmt.Errorf("bench: cpu batch %d: %w", b, err)
			}
			br := newBatchResult(b, lat, cfg.FLOPs())
			p.Batches = append(p.Batches, br)
			cpuOut[b] = logits
			fmt.Fprintf(log, "bench: cpu batch %d: %d iterations, p50 %.2f ms, %.1f img/s\n", b, br.Latency.N, br.Latency.P50, br.ImgPerSec)
		}
		r.Paths = append(r.Paths, p)
	}
	// Parity of the two paths on the same input: the smallest common batch.
	for _, b := range sortedUnique(opts.CPUBatches) {
		g, okG := gpuOut[b]
		c, okC := cpuOut[b]
		if okG && okC {
			d := Compare(g, c)
			r.Parity = &Parity{Batch: b, Diff: d}
			break
		}
	}
	return r, nil
}

// runGPU creates the engine (lowering the largest batch while it does not fit)
// and measures every batch size it can hold.
func runGPU(ctx context.Context, opts Options, r *Report, pixels []float32, per int, log io.Writer) (PathReport, map[int][]float32, error) {
	cfg := opts.Model.Config
	info := opts.Device.Info()
	p := PathReport{Path: "gpu", Label: fmt.Sprintf("%s (%s)", info.Name, info.Type)}
	out := map[int][]float32{}
	batches := sortedUnique(opts.Batches)
	if len(batches) == 0 {
		return p, out, nil
	}
	var eng *deit.GPUEngine
	for len(batches) > 0 {
		top := batches[len(batches)-1]
		e, err := deit.NewGPUEngine(opts.Device, opts.Model, top)
		if err == nil {
			eng = e
			break
		}
		if !errors.Is(err, gpu.ErrOutOfMemory) {
			return p, nil, fmt.Errorf("bench: gpu engine for batch %d: %w", top, err)
		}
		r.Notes = append(r.Notes, fmt.Sprintf("gpu batch %d skipped: does not fit in device memory (%s): %v",
			top, formatBytes(info.DeviceLocalBytes), err))
		fmt.Fprintln(log, "bench: "+r.Notes[len(r.Notes)-1])
		batches = batches[:len(batches)-1]
	}
	if eng == nil {
		return p, out, nil
	}
	defer eng.Close()
	profileNoted := false
	for _, b := range batches {
		fwd := func(ctx context.Context) ([]float32, error) { return eng.Forward(ctx, pixels[:b*per], b) }
		lat, logits, err := measure(ctx, opts, fwd)
		if errors.Is(err, gpu.ErrOutOfMemory) {
			r.Notes = append(r.Notes, fmt.Sprintf("gpu batch %d skipped: out of device memory: %v", b, err))
			fmt.Fprintln(log, "bench: "+r.Notes[len(r.Notes)-1])
			continue
		}
		if err != nil {
			return p, nil, fmt.Errorf("bench: gpu batch %d: %w", b, err)
		}
		br := newBatchResult(b, lat, cfg.FLOPs())
		var runs [][]deit.DispatchTime
		var dev []float64
		for i := 0; i < opts.ProfileRuns; i++ {
			_, ds, err := eng.Profile(ctx, pixels[:b*per], b)
			if err != nil {
				if ctx.Err() != nil {
					return p, nil, ctx.Err()
				}
				if !profileNoted {
					r.Notes = append(r.Notes, fmt.Sprintf("no GPU timestamps (device time and kernel breakdown missing): %v", err))
					profileNoted = true
				}
				break
			}
			runs = append(runs, ds)
			dev = append(dev, DeviceMillis(ds))
		}
		if len(runs) > 0 {
			sort.Float64s(dev)
			br.DeviceMs = Percentile(dev, 50)
			if br.DeviceMs > 0 {
				br.DeviceTFLOPS = cfg.FLOPs() * float64(b) / (br.DeviceMs / 1e3) / 1e12
			}
			br.Kernels = GroupKernels(runs...)
		}
		p.Batches = append(p.Batches, br)
		out[b] = logits
		fmt.Fprintf(log, "bench: gpu batch %d: %d iterations, p50 %.2f ms, %.1f img/s, device %.2f ms\n",
			b, br.Latency.N, br.Latency.P50, br.ImgPerSec, br.DeviceMs)
	}
	return p, out, nil
}

// measure runs the warm-up and timed passes of one forward function and
// returns the timed latencies and the last logits.
func measure(ctx context.Context, opts Options, fwd func(context.Context) ([]float32, error)) ([]time.Duration, []float32, error) {
	var logits []float32
	start := time.Now()
	for i := 0; i < opts.Warmup; i++ {
		if i > 0 && opts.MaxTime > 0 && time.Since(start) > opts.MaxTime/4 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		out, err := fwd(ctx)
		if err != nil {
			return nil, nil, err
		}
		logits = out
	}
	minIters := min(3, opts.Iters)
	var lat []time.Duration
	start = time.Now()
	for i := 0; i < opts.Iters; i++ {
		if i >= minIters && opts.MaxTime > 0 && time.Since(start) > opts.MaxTime {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		out, err := fwd(ctx)
		if err != nil {
			return nil, nil, err
		}
		lat = append(lat, time.Since(t0))
		logits = out
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

// RandomPixels returns a deterministic pseudo-random input batch [B, C, H, W]
// for cfg, uniform in [−2, 2.5) like normalized ImageNet pixels.
func RandomPixels(cfg deit.Config, B int, seed int64) []float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	px := make([]float32, B*cfg.Channels*cfg.ImageSize*cfg.ImageSize)
	for i := range px {
		px[i] = float32(rng.Float64()*4.5 - 2)
	}
	return px
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

// Commit is the VCS revision go build stamped into the binary (12 hex
// digits, "+dirty" when the tree had changes), or "" when there is none.
func Commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// formatBytes renders a memory size in GiB, MiB or bytes.
func formatBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
