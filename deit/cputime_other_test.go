//go:build !unix

package deit

func cpuSeconds() float64 { return 0 }
