package gpu_test

import (
	"math"
	"testing"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestGELU(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	// A dense sweep of [−12, 12] (both branches of the approximation and
	// their joins at |x| = √2), random values, and extremes.
	sweep := make([]float32, 0, 48001)
	for i := -24000; i <= 24000; i++ {
		sweep = append(sweep, float32(i)/2000)
	}
	extremes := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-7, -1e-7, 1.4142135, -1.4142135,
		1.4142137, -1.4142137, 6.3, -6.3, 9, -9, 40, -40, 1e4, -1e4, 3e38, -3e38}
	for _, c := range []struct {
		name string
		x    []float32
	}{
		{"one", []float32{0.5}},
		{"seven", opsRand(3001, 7, -4, 4)},
		{"extremes", extremes},
		{"sweep", sweep},
		{"random1001", opsRand(3002, 1001, -8, 8)},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(c.x)
			in, out := e.upload(t, c.x), e.poisoned(t, n)
			e.run(t, func(s *gpu.Sequence) error { return e.ops.GELU(s, gpu.W(out), gpu.R(in), n) })
			got := e.download(t, out, n)
			// Bound per element: the approximation's 1.1e-7 absolute (shaders/gelu.glsl)
			// plus GPU exp error, within 2e-7, plus the unavoidable rounding of
			// the fp32 result, u·|gelu(x)|.
			worst, wi := 0.0, 0
			for i, x := range c.x {
				want := ref.GELU(float64(x))
				d := math.Abs(float64(got[i]) - want)
				if math.IsNaN(float64(got[i])) || d > 2e-7+ulp32*math.Abs(want) {
					t.Fatalf("gelu(%g) = %.9g, want %.9g (|diff| %.3g)", x, got[i], want, d)
				}
				if d > worst {
					worst, wi = d, i
				}
			}
			t.Logf("%s: %d values, worst |diff| %.3g at gelu(%g) = %.9g", c.name, n, worst, c.x[wi], got[wi])
		})
	}
}
