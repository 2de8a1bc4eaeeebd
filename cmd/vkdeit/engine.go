package main

import (
	"github.com/spf13/pflag"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// engineFlags are the flags of every command that runs a model.
type engineFlags struct {
	device string
	batch  int
}

// addEngineFlags adds --device and --batch (default batch def).
func addEngineFlags(fs *pflag.FlagSet, def int) *engineFlags {
	f := &engineFlags{}
	fs.StringVarP(&f.device, "device", "d", "auto", deviceHelp)
	fs.IntVarP(&f.batch, "batch", "b", def, "images per forward pass")
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
func openEngine(e *env, m *deit.Model, device string, maxBatch int, quiet bool) (deit.Engine, error) {
	g := gpu.OptionsFromEnv()
	g.Log = e.stderr
	eng, err := deit.NewEngine(m, deit.EngineOptions{Device: device, MaxBatch: maxBatch, GPU: g})
	if err != nil {
		return nil, err
	}
	if b := eng.MaxBatch(); b < maxBatch {
		e.notef(quiet, "batch lowered from %d to %d to fit in device memory", maxBatch, b)
	}
	e.notef(quiet, "running on %s", eng.Name())
	return eng, nil
}
