//go:build !(amd64 || arm64) || purego

package cpu

// spinPause has no hint to give without the assembly.
func spinPause() {}
