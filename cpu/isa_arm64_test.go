//go:build !purego

package cpu

import (
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
