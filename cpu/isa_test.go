package cpu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseISA(t *testing.T) {
	for _, tc := range []struct {
		name string
		want ISA
	}{
		{"", Auto}, {"auto", Auto}, {"generic", Generic}, {"avx2", AVX2}, {"avx512", AVX512}, {"neon", NEON},
	} {
		got, err := ParseISA(tc.name)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
		if tc.name != "" {
			require.Equal(t, tc.name, got.String())
		}
	}
	_, err := ParseISA("sve")
	require.ErrorContains(t, err, `unknown ISA "sve" (want auto, generic, avx2, avx512 or neon)`)
}

// TestBestSupported: whatever the machine, Best is a concrete ISA it can
// run, and New(Auto) picks it.
func TestBestSupported(t *testing.T) {
	best := Best()
	require.NotEqual(t, Auto, best)
	require.True(t, best.Supported())
	require.Equal(t, best, Auto.Resolve())
	require.Equal(t, best, newKernels(t, Auto, 1).ISA())
}
