package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/bench"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

const benchSynopsis = `bench [flags]

Times the forward pass: warm-up, then timed iterations per batch size, with
the wall clock from submit to logits (latency p50/p95/p99, throughput, effective
TFLOPS at the model's FLOP count) and GPU timestamps (device time and a
per-kernel breakdown: kernel, dispatches, total µs, share, GFLOPS). --cpu adds
the pure-Go CPU reference on the same input (batches up to 8) and the GPU/CPU
ratio. Random weights of a preset by default, so nothing is downloaded. Batch
sizes that do not fit in device memory are skipped with a note.`

const benchExamples = `  vkdeit bench                                   random deit-small-distilled weights
  vkdeit bench --cpu --plot bench.png            with the CPU reference and a plot
  vkdeit bench --batch 1,8,64,256 --json out.json
  vkdeit bench --model facebook/deit-base-distilled-patch16-224 --iters 100
  vkdeit bench --device cpu --batch 1 --iters 5  the CPU reference alone
`

func runBench(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench", benchSynopsis, benchExamples)
	preset := fs.String("config", "small-distilled", "random-weight preset ("+presetNames+")")
	model := fs.String("model", "", "real weights instead: a directory, a weights file, or a Hugging Face repo id[@revision]")
	batches := fs.String("batch", "", "comma-separated batch sizes (default 1,8 on a CPU device, 1,8,32,64,128,256 on a GPU)")
	warmup := fs.Int("warmup", 10, "untimed forward passes per batch size")
	iters := fs.Int("iters", 40, "timed forward passes per batch size")
	maxTime := fs.Duration("max-time", 30*time.Second, "cap on timed runs per batch size and path (at least 3 run); 0 = no cap")
	withCPU := fs.Bool("cpu", false, "also run the CPU reference path (batches ≤ 8) and print the ratio")
	device := fs.String("device", "auto", "auto (a Vulkan device if any, else the CPU reference), gpu, or cpu (the CPU reference alone)")
	jsonFile := fs.String("json", "", "also write the report as JSON to `FILE` (- for stdout, the table then goes to stderr)")
	plotFile := fs.String("plot", "", "also draw latency and throughput against batch size into this PNG `FILE`")
	seed := fs.Int64("seed", 1, "seed of the random weights and input")
	profileRuns := fs.Int("profile-runs", 3, "timestamped runs per GPU batch size for device time and the kernel breakdown")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("bench: unexpected arguments %q", fs.Args())
	}
	if err := checkDeviceFlag("bench", *device); err != nil {
		return err
	}
	switch {
	case *iters < 1:
		return usagef("bench: --iters must be ≥ 1, got %d", *iters)
	case *warmup < 0:
		return usagef("bench: --warmup must be ≥ 0, got %d", *warmup)
	case *maxTime < 0:
		return usagef("bench: --max-time must be ≥ 0, got %v", *maxTime)
	case *profileRuns < 1:
		return usagef("bench: --profile-runs must be ≥ 1, got %d", *profileRuns)
	}
	var list []int
	if *batches != "" {
		var err error
		if list, err = parseBatches(*batches); err != nil {
			return usagef("bench: --batch: %v", err)
		}
	}

	var m *deit.Model
	var err error
	name := *model
	if *model != "" {
		m, err = loadModel(ctx, e, *model)
	} else {
		m, err = randomModel(*preset, *seed)
		name = fmt.Sprintf("random %s (seed %d)", *preset, *seed)
	}
	if err != nil {
		return err
	}

	opts := bench.Options{Model: m, ModelName: name, Warmup: *warmup, Iters: *iters, MaxTime: *maxTime,
		ProfileRuns: *profileRuns, Seed: *seed, Log: e.stderr, CPU: *withCPU || *device == "cpu"}
	onCPUDevice := true
	if *device != "cpu" {
		d, err := openDevice(e.stderr)
		switch {
		case err != nil && *device == "gpu":
			return err
		case err != nil:
			fmt.Fprintf(e.stderr, "vkdeit: %s; benchmarking the CPU reference alone\n", oneLine(err.Error()))
			opts.CPU = true
		default:
			defer d.Close()
			opts.Device = d
			onCPUDevice = d.Info().Type == gpu.DeviceCPU
		}
	}
	if list == nil {
		list = []int{1, 8}
		if !onCPUDevice {
			list = []int{1, 8, 32, 64, 128, 256}
		}
	}
	if opts.Device != nil {
		opts.Batches = list
	}
	if opts.CPU {
		for _, b := range list {
			if b <= 8 || opts.Device == nil {
				opts.CPUBatches = append(opts.CPUBatches, b)
			}
		}
		if len(opts.CPUBatches) == 0 {
			opts.CPUBatches = []int{1}
		}
	}

	r, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	text := e.stdout
	if *jsonFile == "-" {
		text = e.stderr
		if err := r.WriteJSON(e.stdout); err != nil {
			return err
		}
	} else if *jsonFile != "" {
		f, err := os.Create(*jsonFile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if err := r.WriteJSON(f); err != nil {
			f.Close()
			return fmt.Errorf("bench: %s: %w", *jsonFile, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("bench: %s: %w", *jsonFile, err)
		}
	}
	if *plotFile != "" {
		if err := r.WritePlotFile(*plotFile); err != nil {
			return err
		}
	}
	return r.WriteText(text)
}

// parseBatches parses "1,8,32" into batch sizes ≥ 1, in the order given
// (bench.Run sorts and deduplicates them).
func parseBatches(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		b, err := strconv.Atoi(f)
		if err != nil || b < 1 {
			return nil, fmt.Errorf("%q is not a batch size ≥ 1", f)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no batch sizes in %q", s)
	}
	return out, nil
}
