package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/pflag"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// engineFlags are the flags of every command that runs a model.
type engineFlags struct {
	device string
	batch  int
	prec   deit.Precision
}

// precisionHelp describes --precision for every command that runs a model.
const precisionHelp = "arithmetic: fp32 (bit-faithful to Hugging Face; every engine), fp16 (Vulkan devices with fp16: half-precision storage, " +
	"fp32 accumulation, tensor cores where the device has them; about 1e-3 relative difference) or auto (fp16 on a GPU, else fp32)"

// precisionFlag adds --precision (default fp32), parsed as the flag is set.
func precisionFlag(fs *pflag.FlagSet, p *deit.Precision) {
	fs.Var(p, "precision", precisionHelp)
}

// addEngineFlags adds --device, --batch (default batch def) and --precision.
func addEngineFlags(fs *pflag.FlagSet, def int) *engineFlags {
	f := &engineFlags{}
	fs.StringVarP(&f.device, "device", "d", "auto", deviceHelp)
	fs.IntVarP(&f.batch, "batch", "b", def, "images per forward pass")
	precisionFlag(fs, &f.prec)
	return f
}

// check reports a bad --batch as a usage error.
func (f *engineFlags) check(cmd string) error {
	if f.batch < 1 {
		return usagef("%s: --batch must be ≥ 1, got %d", cmd, f.batch)
	}
	return nil
}

// openEngine builds the engine --device asks for, for batches up to
// maxBatch, and says on stderr (unless quiet) what runs the model.
// $VKDEIT_DEVICE and $VKDEIT_VALIDATION apply to Vulkan devices.
func openEngine(e *env, m *deit.Model, device string, prec deit.Precision, maxBatch int, quiet bool) (engine.Engine, error) {
	g := gpu.OptionsFromEnv()
	g.Log = e.stderr
	eng, err := engine.New(m, engine.Options{Device: device, Precision: prec, MaxBatch: maxBatch, GPU: g})
	if err != nil {
		return nil, err
	}
	if b := eng.MaxBatch(); b < maxBatch {
		e.notef(quiet, "batch lowered from %d to %d to fit in device memory", maxBatch, b)
	}
	e.notef(quiet, "running on %s", eng.Name())
	if n, ok := eng.(interface{ Notes() []string }); ok {
		for _, note := range n.Notes() {
			e.notef(quiet, "%s", note)
		}
	}
	return eng, nil
}

// imageJob is what classify and embed start from: the images named on the
// command line and a classifier for them.
type imageJob struct {
	inputs  []classify.Input
	argErrs int // arguments that named no readable input (already reported)
	c       *classify.Classifier
}

// startImages expands args into images (reporting bad arguments on
// stderr), loads the model and opens the engine for them; verb names the
// command's work in messages ("classify").
func startImages(ctx context.Context, e *env, args []string, model *modelFlags, ef *engineFlags, quiet bool, verb string) (*imageJob, error) {
	ins, inErrs, warnings := expandInputs(args, e.stdin)
	for _, w := range warnings {
		e.notef(quiet, "%s", w)
	}
	for _, err := range inErrs {
		fmt.Fprintf(e.stderr, "vkdeit: %v\n", err)
	}
	if len(ins) == 0 {
		if len(inErrs) > 0 {
			return nil, errFailed
		}
		return nil, fmt.Errorf("no images to %s", verb)
	}
	m, err := loadModel(ctx, e, model, quiet)
	if err != nil {
		return nil, err
	}
	eng, err := openEngine(e, m, ef.device, ef.prec, min(ef.batch, len(ins)), quiet)
	if err != nil {
		return nil, err
	}
	c, err := classify.New(m, eng)
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &imageJob{inputs: ins, argErrs: len(inErrs), c: c}, nil
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
	fs.Int64Var(&f.maxPixels, "max-pixels", imageio.DefaultMaxPixels, "refuse images with more pixels (Pillow's decompression-bomb limit)")
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
