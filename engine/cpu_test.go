package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/cpu"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/internal/fixture"
	"github.com/vkdeit/vkdeit/internal/hostmem"
)

// TestCPUThreadsInvariant: the CPU engine's logits are the same bits with
// one worker or three, on every ISA.
func TestCPUThreadsInvariant(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 21)
	const B = 5
	px := deit.RandomPixels(c, B, 21)
	for _, isa := range cpu.ISAs() {
		t.Run(isa.String(), func(t *testing.T) {
			if !isa.Supported() {
				t.Skipf("%v not supported here", isa)
			}
			one, err := newCPU(t, m, B, CPUOptions{ISA: isa, Threads: 1}).Forward(context.Background(), px, B)
			require.NoError(t, err)
			three, err := newCPU(t, m, B, CPUOptions{ISA: isa, Threads: 3}).Forward(context.Background(), px, B)
			require.NoError(t, err)
			require.Equal(t, one, three, "1 vs 3 threads")
		})
	}
}

// TestCPUNoAllocs: ForwardInto allocates nothing (Forward allocates only
// the logits it returns).
func TestCPUNoAllocs(t *testing.T) {
	for _, p := range cpuPrecisions {
		t.Run(p.String(), func(t *testing.T) { testCPUNoAllocs(t, p) })
	}
}

func testCPUNoAllocs(t *testing.T, p deit.Precision) {
	c := tinyConfig(deit.HeadDistilled)
	e := newCPU(t, randomModel(c, 4), 2, CPUOptions{Precision: p})
	px := deit.RandomPixels(c, 2, 4)
	dst := make([]float32, 2*c.NumLabels)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(5, func() {
		if err := e.ForwardInto(ctx, dst, px, 2); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs, "allocations per ForwardInto")
	allocs = testing.AllocsPerRun(5, func() {
		if _, err := e.Forward(ctx, px, 2); err != nil {
			t.Fatal(err)
		}
	})
	require.Equal(t, 1.0, allocs, "allocations per Forward (the logits)")
}

// TestCPUErrors covers what only the CPU engine checks: its options and
// the size of its activations.
func TestCPUErrors(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 1)
	_, err := NewCPU(m, 0, CPUOptions{})
	require.ErrorContains(t, err, "batch size 0")
	_, err = NewCPU(m, 1, CPUOptions{Threads: -1})
	require.ErrorContains(t, err, "threads")
	_, err = NewCPU(m, 1, CPUOptions{ISA: cpu.ISA(42)})
	require.ErrorContains(t, err, "not supported")
	_, err = NewCPU(m, 1<<40, CPUOptions{})
	require.ErrorIs(t, err, ErrOutOfMemory)
	perImage := 4 * (c.Patches()*(c.Channels*c.PatchSize*c.PatchSize+c.Hidden) + c.Tokens()*(7*c.Hidden+c.MLP) + 2*c.HeadTokens()*c.Hidden)
	_, err = NewCPU(m, 11, CPUOptions{MaxBytes: int64(10 * perImage)})
	require.ErrorIs(t, err, ErrOutOfMemory)
	require.ErrorContains(t, err, "batches up to 10 fit")
	fits, err := NewCPU(m, 10, CPUOptions{MaxBytes: int64(10 * perImage)})
	require.NoError(t, err, "exactly the limit fits")
	require.NoError(t, fits.Close())
	// New halves a batch that does not fit in the host's memory instead of
	// failing or taking the machine down.
	huge, err := New(m, Options{Device: "cpu", MaxBatch: 1 << 40})
	require.NoError(t, err)
	defer huge.Close()
	require.Less(t, huge.MaxBatch(), 1<<40)
	require.LessOrEqual(t, int64(huge.MaxBatch())*int64(perImage), hostmem.Available()/2)
	e := newCPU(t, m, 2, CPUOptions{})
	require.ErrorContains(t, e.ForwardInto(context.Background(), make([]float32, 3), deit.RandomPixels(c, 1, 1), 1), "logits buffer has 3")
	require.Contains(t, e.Name(), "threads")
	require.NoError(t, e.Close())
	require.NoError(t, e.Close(), "a second Close is harmless")
}

// TestCPUPrecision: auto runs bf16 exactly where the CPU has a native bf16
// unit (and the ISA can use it), fp32 otherwise; bf16 is explicit
// everywhere (emulated without a native unit); fp16 is refused with the
// list of what the CPU engine runs; the name and Arithmetic say which ran.
func TestCPUPrecision(t *testing.T) {
	c := tinyConfig(deit.HeadDistilled)
	m := randomModel(c, 3)
	native := cpu.BestBF16().Native() // Best() is then the ISA using it (AVX512, NEON)
	auto := newCPU(t, m, 1, CPUOptions{Precision: deit.Auto})
	want := deit.FP32
	if native {
		want = deit.BF16
	}
	require.Equal(t, want, auto.Precision(), "auto on %v", cpu.BestBF16())
	t.Logf("auto: %s / %s", auto.Name(), auto.Arithmetic())
	if cpu.AVX2.Supported() {
		require.Equal(t, deit.FP32, newCPU(t, m, 1, CPUOptions{Precision: deit.Auto, ISA: cpu.AVX2}).Precision(), "auto with AVX2 forced")
	}
	gen := newCPU(t, m, 1, CPUOptions{Precision: deit.BF16, ISA: cpu.Generic})
	require.Equal(t, deit.BF16, gen.Precision())
	require.Equal(t, "bf16 generic", gen.Arithmetic())
	require.Contains(t, gen.Name(), "bf16 generic")
	require.Equal(t, "fp32", newCPU(t, m, 1, CPUOptions{}).Arithmetic())
	_, err := NewCPU(m, 1, CPUOptions{Precision: deit.FP16})
	require.ErrorContains(t, err, "supports fp32, bf16, auto")
	_, err = NewCPU(m, 1, CPUOptions{Precision: deit.BF16, BF16: cpu.BF16Dot(42)})
	require.ErrorContains(t, err, "not supported")
	// bf16 needs the fp32 activations plus the bf16 copy of the largest
	// product input (fc2's: T rows of MLP values), within MaxBytes.
	perImage := 4 * (c.Patches()*(c.Channels*c.PatchSize*c.PatchSize+c.Hidden) + c.Tokens()*(7*c.Hidden+c.MLP) + 2*c.HeadTokens()*c.Hidden +
		cpu.GemmBF16Words(c.Tokens(), c.MLP))
	_, err = NewCPU(m, 11, CPUOptions{Precision: deit.BF16, MaxBytes: int64(10 * perImage)})
	require.ErrorIs(t, err, ErrOutOfMemory)
	require.ErrorContains(t, err, "batches up to 10 fit")
	fits, err := NewCPU(m, 10, CPUOptions{Precision: deit.BF16, MaxBytes: int64(10 * perImage)})
	require.NoError(t, err, "exactly the limit fits")
	require.NoError(t, fits.Close())
	// The generic emulation and the native unit compute the same sums
	// (VDPBF16PS adds each pair as its Go twin does) and share the
	// epilogue: equal logits up to the fp32 kernels' GELU and softmax.
	px := deit.RandomPixels(c, 1, 3)
	lg, err := gen.Forward(context.Background(), px, 1)
	require.NoError(t, err)
	if native {
		la, err := auto.Forward(context.Background(), px, 1)
		require.NoError(t, err)
		require.InDeltaSlice(t, fixture.Widen(lg), fixture.Widen(la), 1e-4)
	}
}
