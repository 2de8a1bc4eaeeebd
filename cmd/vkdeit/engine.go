package main

import (
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// engineFlags are the flags of every command that runs a model.
type engineFlags struct {
	device  string
	batch   int
	prec    deit.Precision
	threads int
}

// precisionHelp describes --precision for every command that runs a model.
const precisionHelp = "arithmetic: fp32 (bit-faithful to Hugging Face; every engine), fp16 (Vulkan devices with fp16: half-precision storage, " +
	"fp32 accumulation, tensor cores where the device has them; about 1e-3 relative difference) or auto (fp16 on a GPU, else fp32)"

// precisionFlag adds --precision (default fp32), parsed as the flag is set.
func precisionFlag(fs *pflag.FlagSet, p *deit.Precision) {
	fs.Var(p, "precision", precisionHelp)
}

// addEngineFlags adds --device, --batch (default batch def), --precision
// and --threads.
func addEngineFlags(fs *pflag.FlagSet, def int) *engineFlags {
	f := &engineFlags{}
	fs.StringVarP(&f.device, "device", "d", "auto", deviceHelp)
	fs.IntVarP(&f.batch, "batch", "b", def, "images per forward pass")
	precisionFlag(fs, &f.prec)
	threadsFlag(fs, &f.threads)
	return f
}

// threadsFlag adds --threads (default 0: GOMAXPROCS).
func threadsFlag(fs *pflag.FlagSet, n *int) {
	fs.IntVar(n, "threads", 0, "goroutines the CPU engine and the reference compute on (0: GOMAXPROCS, "+
		strconv.Itoa(runtime.GOMAXPROCS(0))+" here); image decoding has --workers, Vulkan devices ignore it")
}

// checkThreads reports a negative --threads as a usage error.
func checkThreads(cmd string, n int) error {
	if n < 0 {
		return usagef("%s: --threads must be ≥ 0 (0: GOMAXPROCS), got %d", cmd, n)
	}
	return nil
}

// check reports a bad --batch or --threads as a usage error.
func (f *engineFlags) check(cmd string) error {
	if f.batch < 1 {
		return usagef("%s: --batch must be ≥ 1, got %d", cmd, f.batch)
	}
	return checkThreads(cmd, f.threads)
}

// engineRequest is what openEngineFor builds: the engine flags' values,
// for batches up to maxBatch.
type engineRequest struct {
	device   string
	prec     deit.Precision
	maxBatch int
	threads  int // 0: GOMAXPROCS
}

// openEngineFor builds the engine --device asks for, for batches up to
// r.maxBatch, and says on stderr (unless quiet) what runs the model.
// $VKDEIT_DEVICE and $VKDEIT_VALIDATION apply to Vulkan devices. A
// precision the CPU engine does not run (fp16) with --device auto on a
// machine where auto means the CPU engine falls back to fp32 with a note,
// as auto falls back to the CPU engine; asked of --device cpu or ref it
// stays the engine's error.
func openEngineFor(e *env, m *deit.Model, r engineRequest, quiet bool) (engine.Engine, error) {
	g := gpu.OptionsFromEnv()
	g.Log = e.stderr
	if d := strings.ToLower(strings.TrimSpace(r.device)); d == "" || d == "auto" {
		if kind, _ := engine.ResolveDevice(r.device, g.Select); kind == engine.KindCPU && r.prec.Supported("cpu engine", engine.Precisions(kind)...) != nil {
			e.notef(quiet, "--precision %s needs a Vulkan device; --device auto runs the CPU engine here (no GPU), which does not run it: running fp32", r.prec)
			r.prec = deit.FP32
		}
	}
	eng, err := engine.New(m, engine.Options{Device: r.device, Precision: r.prec, MaxBatch: r.maxBatch, Threads: r.threads, GPU: g})
	if err != nil {
		return nil, err
	}
	if b := eng.MaxBatch(); b < r.maxBatch {
		e.notef(quiet, "batch lowered from %d to %d to fit in device memory", r.maxBatch, b)
	}
	e.notef(quiet, "running on %s", eng.Name())
	if n, ok := eng.(interface{ Notes() []string }); ok {
		for _, note := range n.Notes() {
			e.notef(quiet, "%s", note)
		}
	}
	return eng, nil
}

// decodeFlags are the image-decoding flags of every command that reads images.
type decodeFlags struct {
	workers   int
	noEXIF    bool
	maxPixels int64
	memoryMiB int64
}

// addDecodeFlags adds --workers, --no-exif, --max-pixels and --decode-memory.
func addDecodeFlags(fs *pflag.FlagSet) *decodeFlags {
	f := &decodeFlags{}
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "images decoded and preprocessed in parallel")
	fs.BoolVar(&f.noEXIF, "no-exif", false, "ignore the EXIF orientation tag")
	fs.Int64Var(&f.maxPixels, "max-pixels", imageio.DefaultMaxPixels, "refuse images with more pixels (default: Pillow's decompression-bomb error threshold, 2 × 89,478,485)")
	fs.Int64Var(&f.memoryMiB, "decode-memory", 1024, "MiB that the parallel image decoders may use together; larger images wait their turn")
	return f
}

// options are the decode options the flags ask for, with one memory budget
// shared by every decoder of the command.
func (f *decodeFlags) options(cmd string) (imageio.DecodeOptions, error) {
	if f.workers < 1 {
		return imageio.DecodeOptions{}, usagef("%s: --workers must be ≥ 1, got %d", cmd, f.workers)
	}
	if f.maxPixels < 1 {
		return imageio.DecodeOptions{}, usagef("%s: --max-pixels must be ≥ 1, got %d", cmd, f.maxPixels)
	}
	if f.memoryMiB < 1 || f.memoryMiB > 1<<30 {
		return imageio.DecodeOptions{}, usagef("%s: --decode-memory must be between 1 and 2³⁰ MiB, got %d", cmd, f.memoryMiB)
	}
	return imageio.DecodeOptions{NoEXIF: f.noEXIF, MaxPixels: f.maxPixels, Budget: imageio.NewBudget(f.memoryMiB << 20)}, nil
}
