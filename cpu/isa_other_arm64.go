//go:build !linux && !purego

package cpu

// hasBFDOT: outside Linux this build does not detect FEAT_BF16 (macOS
// reports it through sysctl hw.optional.arm.FEAT_BF16, not read here), so
// the BFDOT kernel is never selected and bf16 runs the Go twin.
const hasBFDOT = false
