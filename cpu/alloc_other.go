//go:build !linux

package cpu

// newPackedB allocates a K×N PackedB (see alloc_linux.go for what Linux
// does in addition).
func newPackedB(K, N int) *PackedB {
	return &PackedB{k: K, n: N, data: make([]float32, packedLen(K, N))}
}
