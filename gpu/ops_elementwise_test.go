package gpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
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
				want := refGELU(float64(x))
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

func TestLayerNorm(t *testing.T) {
	type tc struct {
		rows, D int
		eps     float64
	}
	// D around both variants' workgroup sizes (8 and 256) and the DeiT widths.
	cases := []tc{{1, 1, 1e-5}, {3, 7, 1e-6}, {1, 192, 1e-12}, {7, 255, 1e-6}, {198, 384, 1e-12},
		{5, 1000, 1e-12}, {2, 1001, 1e-5}, {4, 1024, 1e-6}, {1001, 3, 1e-12}}
	for _, v := range []gpu.Variant{gpu.VariantCPU, gpu.VariantGPU} {
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
					want := refLayerNorm(x, g, b, c.rows, c.D, c.eps)
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

func TestPatchify(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	type tc struct{ B, C, H, W, P int }
	for i, c := range []tc{{1, 1, 1, 1, 1}, {1, 3, 7, 5, 2}, {2, 3, 32, 48, 16}, {1, 3, 224, 224, 16}, {3, 2, 17, 19, 4}} {
		name := fmt.Sprintf("B%d_C%d_%dx%d_P%d", c.B, c.C, c.H, c.W, c.P)
		t.Run(name, func(t *testing.T) {
			seed := uint64(5000 + i)
			t.Logf("seed %d", seed)
			pix := opsRand(seed, c.B*c.C*c.H*c.W, -2, 2)
			gh, gw := c.H/c.P, c.W/c.P
			cols := c.C * c.P * c.P
			want := make([]float64, c.B*gh*gw*cols)
			for b := 0; b < c.B; b++ {
				for py := 0; py < gh; py++ {
					for px := 0; px < gw; px++ {
						for ch := 0; ch < c.C; ch++ {
							for ky := 0; ky < c.P; ky++ {
								for kx := 0; kx < c.P; kx++ {
									row := (b*gh+py)*gw + px
									col := (ch*c.P+ky)*c.P + kx
									want[row*cols+col] = float64(pix[((b*c.C+ch)*c.H+py*c.P+ky)*c.W+px*c.P+kx])
								}
							}
						}
					}
				}
			}
			in, out := e.upload(t, pix), e.poisoned(t, len(want))
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.Patchify(s, gpu.W(out), gpu.R(in), c.B, c.C, c.H, c.W, c.P)
			})
			requireOpsExact(t, name, e.download(t, out, len(want)), want)
		})
	}
}

func TestTokens(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	type tc struct{ B, T, S, D int }
	for i, c := range []tc{{1, 1, 0, 1}, {1, 2, 1, 3}, {2, 198, 2, 384}, {3, 197, 1, 7}, {1, 5, 0, 4}} {
		name := fmt.Sprintf("B%d_T%d_S%d_D%d", c.B, c.T, c.S, c.D)
		t.Run(name, func(t *testing.T) {
			seed := uint64(6000 + 10*i)
			t.Logf("seed %d", seed)
			patches := opsRand(seed, c.B*(c.T-c.S)*c.D, -1, 1)
			special := opsRand(seed+1, c.S*c.D, -1, 1)
			pos := opsRand(seed+2, c.T*c.D, -1, 1)
			want := make([]float64, c.B*c.T*c.D)
			for b := 0; b < c.B; b++ {
				for tk := 0; tk < c.T; tk++ {
					for d := 0; d < c.D; d++ {
						var v float32
						if tk < c.S {
							v = special[tk*c.D+d]
						} else {
							v = patches[(b*(c.T-c.S)+tk-c.S)*c.D+d]
						}
						// One fp32 add: the float64 sum rounded once is what IEEE fp32 gives.
						want[(b*c.T+tk)*c.D+d] = float64(float32(float64(v) + float64(pos[tk*c.D+d])))
					}
				}
			}
			sp := gpu.Arg{}
			if c.S > 0 {
				sp = gpu.R(e.upload(t, special))
			}
			pb, posb, out := e.upload(t, patches), e.upload(t, pos), e.poisoned(t, len(want))
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.Tokens(s, gpu.W(out), gpu.R(pb), sp, gpu.R(posb), c.B, c.T, c.S, c.D)
			})
			requireOpsExact(t, name, e.download(t, out, len(want)), want)
		})
	}
}

func TestGatherRows(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	type tc struct{ B, T, S, D int }
	// The last case needs more than 65535 workgroups of 256: the grid is split
	// over y.
	for i, c := range []tc{{1, 1, 1, 1}, {2, 198, 2, 384}, {3, 7, 3, 5}, {4, 197, 1, 1000}, {1, 1, 1, 256*65535 + 3}} {
		name := fmt.Sprintf("B%d_T%d_S%d_D%d", c.B, c.T, c.S, c.D)
		t.Run(name, func(t *testing.T) {
			seed := uint64(7000 + i)
			t.Logf("seed %d", seed)
			in := opsRand(seed, c.B*c.T*c.D, -1, 1)
			want := make([]float64, c.B*c.S*c.D)
			for b := 0; b < c.B; b++ {
				for r := 0; r < c.S; r++ {
					for d := 0; d < c.D; d++ {
						want[(b*c.S+r)*c.D+d] = float64(in[(b*c.T+r)*c.D+d])
					}
				}
			}
			ib, out := e.upload(t, in), e.poisoned(t, len(want))
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.GatherRows(s, gpu.W(out), gpu.R(ib), c.B, c.T, c.S, c.D)
			})
			requireOpsExact(t, name, e.download(t, out, len(want)), want)
		})
	}
}

func TestElementwiseRejectsBadArgs(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	b := e.upload(t, make([]float32, 16))
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorContains(t, e.ops.GELU(s, gpu.W(b), gpu.R(b), 17), "out holds 64 bytes, needs 68")
	require.ErrorContains(t, e.ops.LayerNorm(s, gpu.W(b), gpu.R(b), gpu.R(b), gpu.R(b), 2, 8, -1), "eps")
	require.ErrorContains(t, e.ops.LayerNorm(s, gpu.W(b), gpu.R(b), gpu.R(b), gpu.Arg{}, 2, 8, 1e-5), "beta: no buffer")
	require.ErrorContains(t, e.ops.Patchify(s, gpu.W(b), gpu.R(b), 1, 1, 4, 4, 5), "patch size 5")
	require.ErrorContains(t, e.ops.Tokens(s, gpu.W(b), gpu.R(b), gpu.R(b), gpu.R(b), 1, 2, 2, 1), "special tokens")
	require.ErrorContains(t, e.ops.GatherRows(s, gpu.W(b), gpu.R(b), 1, 2, 3, 1), "3 rows requested from 2")
}
