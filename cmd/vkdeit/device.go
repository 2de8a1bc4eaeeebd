package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
)

// forwarder runs the model's forward pass on one device.
type forwarder interface {
	// Forward returns the logits [B, NumLabels] of pixels [B, C, H, W].
	Forward(ctx context.Context, pixels []float32, B int) ([]float32, error)
	// MaxBatch is the largest B Forward accepts.
	MaxBatch() int
	// Name says where it runs, e.g. "gpu NVIDIA H100 (discrete)".
	Name() string
	Close() error
}

// cpuForwarder is the pure-Go reference path.
type cpuForwarder struct {
	m     *deit.Model
	batch int
}

// Forward implements forwarder with deit.Model.ForwardReference.
func (c *cpuForwarder) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	res, err := c.m.ForwardReference(ctx, pixels, B)
	if err != nil {
		return nil, err
	}
	return res.Logits, nil
}

// MaxBatch implements forwarder: the batch asked for (the CPU has no limit).
func (c *cpuForwarder) MaxBatch() int { return c.batch }

// Name implements forwarder.
func (c *cpuForwarder) Name() string {
	return fmt.Sprintf("cpu (Go reference, %d threads)", runtime.GOMAXPROCS(0))
}

// Close implements forwarder; there is nothing to free.
func (c *cpuForwarder) Close() error { return nil }

// gpuForwarder is the Vulkan engine on an opened device.
type gpuForwarder struct {
	dev *gpu.Device
	eng *deit.GPUEngine
}

// Forward implements forwarder with deit.GPUEngine.Forward.
func (g *gpuForwarder) Forward(ctx context.Context, pixels []float32, B int) ([]float32, error) {
	return g.eng.Forward(ctx, pixels, B)
}

// MaxBatch implements forwarder: the batch the engine was built for.
func (g *gpuForwarder) MaxBatch() int { return g.eng.MaxBatch() }

// Name implements forwarder.
func (g *gpuForwarder) Name() string {
	info := g.dev.Info()
	return fmt.Sprintf("gpu %s (%s)", info.Name, info.Type)
}

// Close implements forwarder: it closes the engine, then the device.
func (g *gpuForwarder) Close() error {
	err := g.eng.Close()
	if cerr := g.dev.Close(); err == nil {
		err = cerr
	}
	return err
}

// openDevice opens the Vulkan device gpu.Open picks ($VKDEIT_DEVICE or the
// default preference), with its notes going to log.
func openDevice(log io.Writer) (*gpu.Device, error) {
	opts := gpu.OptionsFromEnv()
	opts.Log = log
	d, err := gpu.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("no usable Vulkan device: %w", err)
	}
	return d, nil
}

// checkDeviceFlag rejects a --device value other than auto, gpu or cpu as a
// usage error; cmd prefixes the message ("classify", "bench", ...).
func checkDeviceFlag(cmd, mode string) error {
	switch mode {
	case "auto", "gpu", "cpu":
		return nil
	}
	return usagef("%s: --device must be auto, gpu or cpu, not %q", cmd, mode)
}

// openForwarder picks the path for --device (auto, gpu or cpu) and builds the
// engine for up to batch images, halving the batch while it does not fit in
// device memory. It says on log which device runs.
func openForwarder(mode string, m *deit.Model, batch int, log io.Writer) (forwarder, error) {
	if err := checkDeviceFlag("vkdeit", mode); err != nil {
		return nil, err
	}
	if mode == "cpu" {
		f := &cpuForwarder{m: m, batch: batch}
		fmt.Fprintf(log, "vkdeit: running on %s\n", f.Name())
		return f, nil
	}
	d, err := openDevice(log)
	if err != nil {
		if mode == "gpu" {
			return nil, err
		}
		f := &cpuForwarder{m: m, batch: batch}
		fmt.Fprintf(log, "vkdeit: %v\nvkdeit: running on %s\n", oneLine(err.Error()), f.Name())
		return f, nil
	}
	for b := batch; ; b /= 2 {
		eng, err := deit.NewGPUEngine(d, m, b)
		if err == nil {
			if b < batch {
				fmt.Fprintf(log, "vkdeit: batch lowered from %d to %d to fit in device memory\n", batch, b)
			}
			f := &gpuForwarder{dev: d, eng: eng}
			fmt.Fprintf(log, "vkdeit: running on %s\n", f.Name())
			return f, nil
		}
		if !errors.Is(err, gpu.ErrOutOfMemory) || b <= 1 {
			d.Close()
			return nil, fmt.Errorf("gpu engine: %w", err)
		}
	}
}
