package cpu

import (
	"fmt"
	"math"
	"testing"
)

// BenchmarkAttention is one DeiT-small layer's attention (T = 198, H = 6,
// Dh = 64) at batch 1 and 8, in fp32 per ISA and in bf16 per native unit;
// GFLOPS counts the two products, 4·B·T²·H·Dh.
func BenchmarkAttention(b *testing.B) {
	type variant struct {
		name string
		new  func(threads int) (*Kernels, error)
		bf16 bool
	}
	var variants []variant
	for _, isa := range ISAs() {
		if isa.Supported() {
			variants = append(variants, variant{isa.String(), func(t int) (*Kernels, error) { return New(isa, t) }, false})
		}
	}
	for _, d := range BF16Dots() {
		if d.Native() && d.Supported() {
			variants = append(variants, variant{d.String(), func(t int) (*Kernels, error) { return NewBF16(Best(), d, t) }, true})
		}
	}
	const T, H, Dh = 198, 6, 64
	for _, v := range variants {
		for _, threads := range []int{1, 2} {
			for _, B := range []int{1, 8} {
				b.Run(fmt.Sprintf("B%d/%s/t%d", B, v.name, threads), func(b *testing.B) {
					k, err := v.new(threads)
					if err != nil {
						b.Fatal(err)
					}
					defer k.Close()
					attention := k.Attention
					if v.bf16 {
						attention = k.AttentionBF16
					}
					qkv := randSlice(1, B*T*3*H*Dh, -1, 1)
					out := make([]float32, B*T*H*Dh)
					c0 := cpuSeconds()
					for b.Loop() {
						if err := attention(out, qkv, B, T, H, Dh, float32(1/math.Sqrt(Dh))); err != nil {
							b.Fatal(err)
						}
					}
					reportFlops(b, 4*float64(B*T*T*H*Dh)*float64(b.N), c0)
				})
			}
		}
	}
}

// BenchmarkLayerNorm is one DeiT-small LayerNorm: 198·B rows of 384.
func BenchmarkLayerNorm(b *testing.B) {
	const D = 384
	for _, isa := range ISAs() {
		if !isa.Supported() {
			continue
		}
		for _, threads := range []int{1, 2} {
			for _, B := range []int{1, 8} {
				b.Run(fmt.Sprintf("B%d/%v/t%d", B, isa, threads), func(b *testing.B) {
					k, err := New(isa, threads)
					if err != nil {
						b.Fatal(err)
					}
					defer k.Close()
					rows := 198 * B
					x := randSlice(1, rows*D, -1, 1)
					g, be := randSlice(2, D, 0.5, 1.5), randSlice(3, D, -1, 1)
					y := make([]float32, rows*D)
					for b.Loop() {
						if err := k.LayerNorm(y, x, g, be, rows, D, 1e-6); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(rows*D*4*2)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				})
			}
		}
	}
}

// BenchmarkGELU is fc1's activation count at batch 1: 198·1536 values.
func BenchmarkGELU(b *testing.B) {
	for _, isa := range ISAs() {
		if !isa.Supported() {
			continue
		}
		b.Run(isa.String(), func(b *testing.B) {
			k, err := New(isa, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close()
			x := randSlice(1, 198*1536, -4, 4)
			y := make([]float32, len(x))
			for b.Loop() {
				if err := k.GELU(y, x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}
