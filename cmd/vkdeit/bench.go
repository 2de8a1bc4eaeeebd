package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vkdeit/vkdeit/bench"
	"github.com/vkdeit/vkdeit/bench/serveload"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/server"
)

const benchSynopsis = `bench [flags]

Times the forward pass of one or more engines on the same input: warm-up,
then timed iterations per batch size, with the wall clock from submit to
logits (latency p50/p95/p99, throughput, effective TFLOPS at the model's FLOP
count) and, where the engine can time its kernels, a per-kernel breakdown
(kernel, launches, total µs, share, GFLOPS). --device takes a comma-separated
list (e.g. gpu,cpu); --ref adds the float64 reference (batches up to 8). The
first engine's throughput is compared with each other's, and every engine's
logits with the reference's (or the first's). Random weights of a preset by
default, so nothing is downloaded. Batch sizes that do not fit in device or
host memory are skipped with a note (a run in which every batch is skipped
fails, with the reasons); --max-time bounds the whole run.`

const benchExamples = `  vkdeit bench                                   random deit-small-distilled weights
  vkdeit bench serve --clients 1,8,64            the inference server against its engine (see "vkdeit bench serve --help")
  vkdeit bench --device gpu,cpu --ref --plot bench.png
  vkdeit bench --batch 1,8,64,256 --json out.json
  vkdeit bench --model facebook/deit-base-distilled-patch16-224 --iters 100
  vkdeit bench --device cpu --batch 1,8 --max-time 1m
  vkdeit bench --device gpu --precision fp32,fp16 --batch 1,64,256
`

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "serve" {
		return runBenchServe(ctx, e, args[1:])
	}
	fs := newFlagSet(e, "bench", benchSynopsis, benchExamples)
	preset := fs.String("config", "small-distilled", "random-weight preset ("+presetNames+")")
	model := addModelFlags(fs, "")
	devices := fs.StringP("device", "d", "auto", "comma-separated engines to time, each as for classify --device: "+deviceHelp)
	withRef := fs.Bool("ref", false, "also time the float64 reference (batches ≤ 8)")
	precisions := fs.String("precision", "fp32", "comma-separated precisions to time on Vulkan devices (fp32, fp16, auto); CPU engines run fp32")
	batches := fs.StringP("batch", "b", "", "comma-separated batch sizes (default 1,8 on CPU engines and CPU Vulkan drivers, 1,8,32,64,128,256 on a GPU)")
	warmup := fs.Int("warmup", 10, "untimed forward passes per batch size")
	iters := fs.Int("iters", 40, "timed forward passes per batch size")
	maxTime := fs.Duration("max-time", 2*time.Minute, "bound on the whole run — warm-up, timed and kernel-timed passes; batches and profiles that do not fit are skipped with a note; 0 = none")
	jsonFile := fs.String("json", "", "also write the report as JSON to `FILE` (- for stdout, the table then goes to stderr)")
	plotFile := fs.String("plot", "", "also draw latency and throughput against batch size into this PNG `FILE`")
	seed := fs.Int64("seed", 1, "seed of the random weights and input")
	profileRuns := fs.Int("profile-runs", 3, "kernel-timed runs per batch size for the kernel breakdown")
	quiet := fs.BoolP("quiet", "q", false, "no progress lines on stderr")
	var threads int
	threadsFlag(fs, &threads)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("bench: unexpected arguments %q", fs.Args())
	}
	if err := checkThreads("bench", threads); err != nil {
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
	// Open the output files first: a bad path fails now, not after the run.
	var jsonOut, plotOut *outputFile
	var err error
	if *jsonFile != "" {
		if jsonOut, err = openOutput(e, *jsonFile); err != nil {
			return err
		}
		defer jsonOut.Discard()
	}
	if *plotFile != "" {
		if plotOut, err = openOutput(e, *plotFile); err != nil {
			return err
		}
		defer plotOut.Discard()
	}

	var m *deit.Model
	name := model.arg
	if model.arg != "" {
		m, err = loadModel(ctx, e, model, *quiet)
	} else {
		m, err = randomModel(*preset, *seed)
		name = fmt.Sprintf("random %s (seed %d)", *preset, *seed)
	}
	if err != nil {
		return err
	}

	precs, err := deit.ParsePrecisions(*precisions)
	if err != nil {
		return usagef("bench: --precision: %v", err)
	}
	g := gpu.OptionsFromEnv()
	g.Log = e.stderr
	var targets []bench.Target
	seen := map[string]bool{}
	hasGPU := engine.HasGPU() // asks Vulkan once, not per target
	for _, d := range strings.Split(*devices, ",") {
		kind, sel := engine.ResolveDevice(d, g.Select)
		for _, prec := range precs {
			if prec.Supported(string(kind), engine.Precisions(kind)...) != nil {
				prec = deit.FP32 // what this engine runs instead (fp16 on a CPU engine)
			}
			path := string(kind)
			if sel != "" {
				path = "gpu:" + sel
			}
			if prec != deit.FP32 {
				path += "-" + prec.String()
			}
			if seen[path] {
				continue // "auto,cpu" on a machine without a GPU
			}
			seen[path] = true
			bs := list
			if bs == nil {
				bs = []int{1, 8}
				if kind == "gpu" && hasGPU {
					bs = []int{1, 8, 32, 64, 128, 256}
				}
			}
			dev := d
			targets = append(targets, bench.Target{Path: path, Batches: bs, Open: func(b int) (engine.Engine, error) {
				return engine.New(m, engine.Options{Device: dev, Precision: prec, MaxBatch: b, Threads: threads, GPU: g})
			}})
		}
	}
	if *withRef {
		var bs []int
		for _, b := range targets[0].Batches {
			if b <= 8 {
				bs = append(bs, b)
			}
		}
		if len(bs) == 0 {
			bs = []int{1}
		}
		targets = append(targets, bench.Target{Path: "ref", Batches: bs, Open: func(b int) (engine.Engine, error) {
			return engine.NewReference(m, b, engine.ReferenceOptions{Threads: threads})
		}})
	}
	opts := bench.Options{Model: m, ModelName: name, Targets: targets, Warmup: *warmup, Iters: *iters,
		MaxTime: *maxTime, ProfileRuns: *profileRuns, Seed: *seed}
	if !*quiet {
		opts.Log = e.stderr
	}
	r, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	text := e.stdout
	if *jsonFile == "-" {
		text = nil
	}
	if jsonOut != nil {
		if err := r.WriteJSON(jsonOut); err != nil {
			return err
		}
		if err := jsonOut.Commit(); err != nil {
			return err
		}
	}
	if plotOut != nil {
		if err := r.WritePlot(plotOut); err != nil {
			return fmt.Errorf("bench: plot: %w", err)
		}
		if err := plotOut.Commit(); err != nil {
			return err
		}
	}
	if text == nil {
		return r.WriteText(e.stderr)
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

const benchServeSynopsis = `bench serve [flags]

Starts the inference server in-process on loopback and measures, per
protocol (REST JSON, REST binary, gRPC) and number of concurrent
closed-loop clients, the images answered per second and the p50/p99
latency, beside the engine's own throughput at --max-batch measured in the
same run. Each client sends one image per request, so batches form only
from concurrency.`

const benchServeExamples = `  vkdeit bench serve
  vkdeit bench serve --device cpu --clients 1,8,64 --max-batch 8 --duration 10s
  vkdeit bench serve --model testdata/tiny-distilled --device ref --duration 2s
`

func runBenchServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench serve", benchServeSynopsis, benchServeExamples)
	preset := fs.String("config", "small-distilled", "random-weight preset ("+presetNames+")")
	model := addModelFlags(fs, "")
	device := fs.StringP("device", "d", "auto", deviceHelp)
	var prec deit.Precision
	precisionFlag(fs, &prec)
	clients := fs.String("clients", "1,8,64", "comma-separated numbers of concurrent clients")
	protocols := fs.String("protocols", "", "comma-separated load generators (default all: "+strings.Join(serveload.Protocols(), ",")+")")
	duration := fs.Duration("duration", 5*time.Second, "how long each (protocol, clients) level runs")
	maxBatch := fs.Int("max-batch", 8, "the server's --max-batch (and the engine's batch)")
	maxDelay := fs.Duration("max-delay", 0, "the server's --max-delay")
	seed := fs.Int64("seed", 1, "seed of the random weights")
	var threads int
	threadsFlag(fs, &threads)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("bench serve: unexpected arguments %q", fs.Args())
	}
	if err := checkThreads("bench serve", threads); err != nil {
		return err
	}
	cs, err := parseBatches(*clients)
	if err != nil {
		return usagef("bench serve: --clients: %v", err)
	}
	if *maxBatch < 1 || *duration <= 0 {
		return usagef("bench serve: --max-batch must be ≥ 1 and --duration > 0")
	}
	var ps []string
	if *protocols != "" {
		ps = strings.Split(*protocols, ",")
		for _, p := range ps {
			if !slices.Contains(serveload.Protocols(), p) {
				return usagef("bench serve: --protocols: unknown protocol %q (want %s)", p, strings.Join(serveload.Protocols(), ", "))
			}
		}
	}
	var m *deit.Model
	name := model.arg
	if model.arg != "" {
		m, err = loadModel(ctx, e, model, false)
	} else {
		m, err = randomModel(*preset, *seed)
		name = fmt.Sprintf("random %s (seed %d)", *preset, *seed)
	}
	if err != nil {
		return err
	}
	eng, err := openEngineFor(e, m, engineRequest{device: *device, prec: prec, maxBatch: *maxBatch, threads: threads}, false)
	if err != nil {
		return err
	}
	defer eng.Close()
	// The server lowers --max-batch to the engine's should a GPU short of
	// memory have built it for fewer.
	rep, err := serveload.Run(ctx, m, eng, serveload.Options{Clients: cs, Protocols: ps, Duration: *duration, ModelName: name,
		Server: server.Options{MaxBatch: *maxBatch, MaxDelay: *maxDelay}})
	if err != nil {
		return err
	}
	return rep.WriteText(e.stdout)
}
