//go:build !purego

package cpu

import "unsafe"

// The assembly softmax rows of attention_amd64.s.

//go:noescape
func softmaxAVX512(p *float32, n int, scale float32, c *vecConsts)

//go:noescape
func softmaxAVX2(p *float32, n int, scale float32, c *vecConsts)

//go:noescape
func gatherColsAVX512(dst, src unsafe.Pointer, ld int, n int, mask int, iota *[16]int32)

//go:noescape
func interleavePairsAVX512(dst *uint32, src *uint16, ld int, n int, idx *[2][32]uint16)
