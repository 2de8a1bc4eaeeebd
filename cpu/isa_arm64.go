//go:build !purego

package cpu

import xcpu "golang.org/x/sys/cpu"

// Read once at start-up and never written again. Advanced SIMD is part of
// every ARMv8-A core, and x/sys/cpu reports it on every OS (from HWCAP on
// Linux, by definition elsewhere); checking it keeps the NEON kernels off
// anything exotic that lacks it.
var hasNEON = xcpu.ARM64.HasASIMD
