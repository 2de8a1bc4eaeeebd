package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/engine"
)

func TestGroupKernels(t *testing.T) {
	run1 := []engine.StepTime{
		{Kernel: "patchify", Step: "patchify", Nanos: 1000},
		{Kernel: "matmul", Step: "embed", Nanos: 4000, FLOPs: 8e6},
		{Kernel: "layernorm", Step: "layer0.ln1", Nanos: 500},
		{Kernel: "matmul", Step: "layer0.qkv", Nanos: 6000, FLOPs: 12e6},
		{Kernel: "attention", Step: "layer0.attn", Nanos: 3000, FLOPs: 3e6},
	}
	run2 := []engine.StepTime{
		{Kernel: "patchify", Step: "patchify", Nanos: 3000},
		{Kernel: "matmul", Step: "embed", Nanos: 6000, FLOPs: 8e6},
		{Kernel: "layernorm", Step: "layer0.ln1", Nanos: 1500},
		{Kernel: "matmul", Step: "layer0.qkv", Nanos: 4000, FLOPs: 12e6},
		{Kernel: "attention", Step: "layer0.attn", Nanos: 1000, FLOPs: 3e6},
	}
	got := GroupKernels(run1, run2)
	// Totals per run: 14500 and 15500 ns → 30000 ns in all.
	want := []KernelStat{
		{Kernel: "matmul", Count: 2, TotalMicros: 10, Share: 20000.0 / 30000, GFLOPS: 40e6 / 20000},
		{Kernel: "attention", Count: 1, TotalMicros: 2, Share: 4000.0 / 30000, GFLOPS: 6e6 / 4000},
		{Kernel: "patchify", Count: 1, TotalMicros: 2, Share: 4000.0 / 30000},
		{Kernel: "layernorm", Count: 1, TotalMicros: 1, Share: 2000.0 / 30000},
	}
	require.Len(t, got, len(want))
	var share float64
	for i, w := range want {
		g := got[i]
		require.Equal(t, w.Kernel, g.Kernel, "row %d", i)
		require.Equal(t, w.Count, g.Count, w.Kernel)
		require.InDelta(t, w.TotalMicros, g.TotalMicros, 1e-9, w.Kernel)
		require.InDelta(t, w.Share, g.Share, 1e-12, w.Kernel)
		require.InDelta(t, w.GFLOPS, g.GFLOPS, 1e-9, w.Kernel)
		share += g.Share
	}
	require.InDelta(t, 1, share, 1e-12)
	require.InDelta(t, 14.5, DeviceMillis(run1)*1e3, 1e-9)
	require.Nil(t, GroupKernels())
}
