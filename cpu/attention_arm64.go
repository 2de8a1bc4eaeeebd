//go:build !purego

package cpu

// The assembly softmax row of attention_arm64.s.

//go:noescape
func softmaxNEON(p *float32, n int, scale float32, c *vecConsts)
