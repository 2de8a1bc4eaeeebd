package gpu_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
)

func TestPrecisionParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want gpu.Precision
	}{{"fp32", gpu.PrecisionFP32}, {"FP16", gpu.PrecisionFP16}, {"auto", gpu.PrecisionAuto}} {
		p, err := gpu.ParsePrecision(c.in)
		require.NoError(t, err)
		require.Equal(t, c.want, p)
		back, err := gpu.ParsePrecision(p.String())
		require.NoError(t, err)
		require.Equal(t, p, back)
	}
	_, err := gpu.ParsePrecision("bf16")
	require.ErrorContains(t, err, `unknown precision "bf16" (want fp32, fp16 or auto)`)
	require.Equal(t, "Precision(9)", gpu.Precision(9).String())
}

func TestPrecisionResolve(t *testing.T) {
	fp16 := gpu.DeviceInfo{Name: "gpu", Type: gpu.DeviceDiscrete, ShaderFloat16: true, StorageBuffer16Bit: true}
	coop := fp16
	coop.CoopMat = true
	cpu := fp16
	cpu.Type, cpu.CoopMat = gpu.DeviceCPU, true
	none := gpu.DeviceInfo{Name: "old", Type: gpu.DeviceDiscrete, ShaderFloat16: true}
	for _, c := range []struct {
		name string
		p    gpu.Precision
		info gpu.DeviceInfo
		want gpu.Precision
		err  bool
	}{
		{"fp32 anywhere", gpu.PrecisionFP32, none, gpu.PrecisionFP32, false},
		{"fp16 with fp16", gpu.PrecisionFP16, fp16, gpu.PrecisionFP16, false},
		{"fp16 without 16-bit storage", gpu.PrecisionFP16, none, 0, true},
		{"auto, coopmat GPU", gpu.PrecisionAuto, coop, gpu.PrecisionFP16, false},
		{"auto, fp16 GPU", gpu.PrecisionAuto, fp16, gpu.PrecisionFP16, false},
		{"auto, CPU driver", gpu.PrecisionAuto, cpu, gpu.PrecisionFP32, false},
		{"auto, no fp16", gpu.PrecisionAuto, none, gpu.PrecisionFP32, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.p.Resolve(c.info)
			if c.err {
				require.True(t, errors.Is(err, gpu.ErrUnsupported), "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}
