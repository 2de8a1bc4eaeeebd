//go:build !amd64 || purego

package cpu

// Builds without the amd64 assembly run only the Generic kernels.
const (
	hasAVX2       = false
	hasAVX512     = false
	hasAVX512BF16 = false
	hasAVX512BW   = false
)
