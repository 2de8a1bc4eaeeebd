//go:build !purego

package cpu

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestARM64RunsNEON: an arm64 build selects the NEON kernels by default,
// not the generic Go ones (every ARMv8-A core has Advanced SIMD), and
// cannot select the amd64 ones.
func TestARM64RunsNEON(t *testing.T) {
	require.True(t, NEON.Supported())
	require.Equal(t, NEON, Best())
	require.False(t, AVX2.Supported())
	require.False(t, AVX512.Supported())
	k := newKernels(t, Auto, 1)
	require.Equal(t, NEON, k.ISA())
	require.Equal(t, "neon, 1 threads", k.String())
	require.Equal(t, 6, k.mr)
}

// TestARM64BF16: where the CPU has FEAT_BF16 (Linux's HWCAP2_BF16), BFDOT
// is the best bf16 unit, native (so auto precision picks bf16) and the one
// NEON kernels take by default; elsewhere bf16 is the Go twin. make
// test-arm64 sets VKDEIT_ARM64_BF16 to the unit each emulated CPU must get,
// so a qemu that stopped advertising BF16 fails rather than skipping the
// BFDOT tests.
func TestARM64BF16(t *testing.T) {
	want := BF16Generic
	if hasBFDOT {
		want = BF16NEON
	}
	t.Logf("bf16 unit: %v", BestBF16())
	require.Equal(t, want, BestBF16())
	require.Equal(t, hasBFDOT, BF16NEON.Supported())
	require.Equal(t, hasBFDOT, BestBF16().Native())
	require.False(t, BF16AVX512.Supported())
	require.False(t, BF16AMX.Supported())
	k := newBF16Kernels(t, Auto, BF16Auto, 1)
	require.Equal(t, want, k.BF16())
	require.Equal(t, BF16Generic, newBF16Kernels(t, Generic, BF16Auto, 1).BF16())
	if s := os.Getenv("VKDEIT_ARM64_BF16"); s != "" {
		require.Equal(t, s, BestBF16().String(), "the bf16 unit of the emulated CPU (QEMU_CPU=%s)", os.Getenv("QEMU_CPU"))
	}
}
