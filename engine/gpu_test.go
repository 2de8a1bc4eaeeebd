package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/internal/fixture"
)

// TestGPUStaging runs the discrete-GPU path (device memory not mapped: the
// input and logits travel through staging buffers and copies recorded in
// the same submission) at each precision: the same bits as the mapped path,
// taps included (fp16 weights travel through WriteHalf's staging copies).
func TestGPUStaging(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 11)
	px := deit.RandomPixels(c, 2, 11)
	for _, p := range []deit.Precision{deit.FP32, deit.FP16} {
		t.Run(p.String(), func(t *testing.T) {
			var answers []*Output
			for _, opts := range []gpu.Options{{}, {ForceStaging: true}} {
				dev := gputest.OpenOptions(t, opts)
				var e *GPU
				if p == deit.FP16 {
					e = fp16Engine(t, dev, m, 2)
				} else {
					e = newGPU(t, dev, m, 2, p)
				}
				out, err := e.Run(context.Background(), px, 2, deit.TapHidden|deit.TapEmbeddings|deit.TapAttention)
				require.NoError(t, err)
				require.Len(t, out.Hidden, c.Layers)
				require.Len(t, out.Attention, c.Layers)
				answers = append(answers, out)
			}
			require.Equal(t, answers[0], answers[1])
		})
	}
}

// TestResolvePrecision checks what each precision means on each kind of
// device.
func TestResolvePrecision(t *testing.T) {
	fp16 := gpu.DeviceInfo{Name: "gpu", Type: gpu.DeviceDiscrete, ShaderFloat16: true, StorageBuffer16Bit: true}
	coop := fp16
	coop.CoopMat = true
	cpuDriver := fp16
	cpuDriver.Type, cpuDriver.CoopMat = gpu.DeviceCPU, true
	none := gpu.DeviceInfo{Name: "old", Type: gpu.DeviceDiscrete, ShaderFloat16: true}
	for _, c := range []struct {
		name string
		p    deit.Precision
		info gpu.DeviceInfo
		want deit.Precision
		err  string
	}{
		{"fp32 anywhere", deit.FP32, none, deit.FP32, ""},
		{"fp16 with fp16", deit.FP16, fp16, deit.FP16, ""},
		{"fp16 without 16-bit storage", deit.FP16, none, 0, "old lacks shaderFloat16 or storageBuffer16BitAccess"},
		{"bf16", deit.BF16, coop, 0, "precision bf16: the gpu engine supports fp32, fp16, auto"},
		{"auto, coopmat GPU", deit.Auto, coop, deit.FP16, ""},
		{"auto, fp16 GPU", deit.Auto, fp16, deit.FP16, ""},
		{"auto, CPU driver", deit.Auto, cpuDriver, deit.FP32, ""},
		{"auto, no fp16", deit.Auto, none, deit.FP32, ""},
		{"unknown", deit.Precision(9), fp16, 0, "precision Precision(9): the gpu engine supports"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := resolvePrecision(c.p, c.info)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
	_, err := resolvePrecision(deit.FP16, none)
	require.True(t, errors.Is(err, gpu.ErrUnsupported), "%v", err)
}

// TestGPUPrecision checks that the default stays fp32, bit for bit the same
// as an explicit fp32, and that auto resolves as resolvePrecision says.
func TestGPUPrecision(t *testing.T) {
	dev := gputest.Open(t)
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 9)
	px := deit.RandomPixels(c, 1, 9)
	def := newGPU(t, dev, m, 1, 0)
	require.Equal(t, deit.FP32, def.Precision())
	require.Equal(t, "fp32", def.Arithmetic())
	_, coop := def.CoopMat()
	require.False(t, coop)
	want, err := def.Forward(context.Background(), px, 1)
	require.NoError(t, err)
	for _, p := range []deit.Precision{deit.FP32, deit.Auto} {
		t.Run(p.String(), func(t *testing.T) {
			e := newGPU(t, dev, m, 1, p)
			resolved, err := resolvePrecision(p, dev.Info())
			require.NoError(t, err)
			require.Equal(t, resolved, e.Precision())
			got, err := e.Forward(context.Background(), px, 1)
			require.NoError(t, err)
			if e.Precision() == deit.FP32 {
				require.Equal(t, want, got, "fp32 must be the default kernels, bit for bit")
			} else {
				fixture.RequireRelL2(t, fmt.Sprintf("%s logits vs fp32", e.Arithmetic()), got, fixture.Widen(want), fp16LogitsBound)
			}
		})
	}
	_, err = NewGPU(dev, m, 1, GPUOptions{Precision: deit.BF16})
	require.ErrorContains(t, err, "precision bf16: the gpu engine supports fp32, fp16, auto")
}

// TestGPUErrors covers what only the GPU engine checks: device memory and
// the largest binding.
func TestGPUErrors(t *testing.T) {
	dev := gputest.Open(t)
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 1)
	_, err := NewGPU(dev, m, 0, GPUOptions{})
	require.ErrorContains(t, err, "batch size 0")
	_, err = NewGPU(nil, m, 1, GPUOptions{})
	require.ErrorContains(t, err, "nil device")
	_, err = NewGPU(dev, nil, 1, GPUOptions{})
	require.ErrorContains(t, err, "nil model")
	_, err = NewGPU(dev, m, 1<<40, GPUOptions{})
	require.ErrorIs(t, err, gpu.ErrOutOfMemory)
	_, err = NewGPU(dev, m, math.MaxInt, GPUOptions{})
	require.ErrorIs(t, err, gpu.ErrOutOfMemory, "byte counts overflowing int64")
	if limit := dev.Info().MaxStorageBufferRange; limit > 0 {
		// The MLP activations are the largest buffer: B·T·M floats.
		over := int(limit/int64(4*c.Tokens()*c.MLP)) + 1
		_, err = NewGPU(dev, m, over, GPUOptions{})
		require.ErrorIs(t, err, gpu.ErrOutOfMemory)
		require.ErrorContains(t, err, fmt.Sprintf("batches up to %d fit", over-1))
	}
}
