//go:build !purego

package cpu

// The assembly softmax rows of attention_amd64.s.

//go:noescape
func softmaxAVX512(p *float32, n int, scale float32, c *vecConsts)

//go:noescape
func softmaxAVX2(p *float32, n int, scale float32, c *vecConsts)
