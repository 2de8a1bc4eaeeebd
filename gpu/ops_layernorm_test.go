package gpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestLayerNorm(t *testing.T) {
	type tc struct {
		rows, D int
		eps     float64
	}
	// D around both variants' workgroup sizes (8 and 256) and the DeiT widths.
	cases := []tc{{1, 1, 1e-5}, {3, 7, 1e-6}, {1, 192, 1e-12}, {7, 255, 1e-6}, {198, 384, 1e-12},
		{5, 1000, 1e-12}, {2, 1001, 1e-5}, {4, 1024, 1e-6}, {1001, 3, 1e-12}}
	for _, v := range []gpu.Variant{gpu.VariantRegBlock, gpu.VariantTiled} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			for i, c := range cases {
				name := fmt.Sprintf("rows%d_D%d_eps%g", c.rows, c.D, c.eps)
				t.Run(name, func(t *testing.T) {
					seed := uint64(4000 + 10*i)
					t.Logf("seed %d", seed)
					// Rows with a mean of 5 and a spread of ±2: the mean must be
					// subtracted before squaring for the variance to be accurate.
					x := opsRand(seed, c.rows*c.D, 3, 7)
					g := opsRand(seed+1, c.D, 0.5, 1.5)
					b := opsRand(seed+2, c.D, -1, 1)
					in, gb, bb := e.upload(t, x), e.upload(t, g), e.upload(t, b)
					n := c.rows * c.D
					out := e.poisoned(t, n)
					e.run(t, func(s *gpu.Sequence) error {
						return e.ops.LayerNorm(s, gpu.W(out), gpu.R(in), gpu.R(gb), gpu.R(bb), c.rows, c.D, float32(c.eps))
					})
					want := ref.LayerNorm(x, g, b, c.rows, c.D, c.eps)
					// Per element: rsqrt (≤ 2 ulp in Vulkan), the subtraction, scale
					// and shift cost a few u; the fp32 mean and variance are sums of D
					// terms whose rounding grows like √D·u (random signs after the
					// mean is removed). Observed ≤ 8·u for every case; (√D + 48)·u
					// leaves a ≥ 5× margin.
					bound := (math.Sqrt(float64(c.D)) + 48) * ulp32
					requireOpsClose(t, name, e.download(t, out, n), want, bound)
				})
			}
		})
	}
}

// TestLayerNormF16 runs layernorm_f16 (fp32 rows and statistics, fp16 out):
// the fp32 bound of TestLayerNorm plus one fp16 rounding of the result.
func TestLayerNormF16(t *testing.T) {
	type tc struct{ rows, D int }
	for _, v := range []gpu.Variant{gpu.VariantRegBlock, gpu.VariantTiled} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			requireFP16(t, e.d)
			for i, c := range []tc{{1, 1}, {3, 7}, {198, 384}, {2, 1001}} {
				name := fmt.Sprintf("rows%d_D%d", c.rows, c.D)
				t.Run(name, func(t *testing.T) {
					seed := uint64(12000 + 10*i)
					x := opsRand(seed, c.rows*c.D, 3, 7)
					g := opsRand(seed+1, c.D, 0.5, 1.5)
					b := opsRand(seed+2, c.D, -1, 1)
					in, gb, bb := e.upload(t, x), e.upload(t, g), e.upload(t, b)
					n := c.rows * c.D
					out := e.poisonedTyped(t, n, gpu.F16)
					e.run(t, func(s *gpu.Sequence) error {
						return e.ops.LayerNorm(s, gpu.W(out).As(gpu.F16), gpu.R(in), gpu.R(gb), gpu.R(bb), c.rows, c.D, 1e-6)
					})
					bound := (math.Sqrt(float64(c.D))+48)*ulp32 + ulp16
					requireOpsClose(t, name, e.downloadTyped(t, out, n, gpu.F16), ref.LayerNorm(x, g, b, c.rows, c.D, 1e-6), bound)
				})
			}
		})
	}
}
