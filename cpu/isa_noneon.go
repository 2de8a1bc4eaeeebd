//go:build !arm64 || purego

package cpu

// Builds without the arm64 assembly never select NEON.
const hasNEON = false
