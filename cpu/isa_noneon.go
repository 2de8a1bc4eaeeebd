//go:build !arm64 || purego

package cpu

// Builds without the arm64 assembly never select NEON or its BFDOT kernel.
const (
	hasNEON  = false
	hasBFDOT = false
)
