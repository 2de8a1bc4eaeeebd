//go:build (amd64 || arm64) && !purego

package cpu

// spinPause is the CPU's spin-wait hint (PAUSE, YIELD): one call per poll
// of the pool's spinning waits.
//
//go:noescape
func spinPause()
