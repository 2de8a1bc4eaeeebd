package gpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
)

// matmulBound is the relative L2 error allowed for a K-term fp32 product.
// Each output is a sequential fp32 sum of K products; with random-sign terms
// its rounding error grows like √K·u (observed ≈ 0.3·√K·u; the worst case
// K·u is never approached), and bias, epilogue and the GELU approximation
// (≤ 1.1e-7 absolute, see shaders/gelu.glsl) add a few u. 2·√K·u + 8·u keeps
// a ≥ 5× margin and is 5.4e-6 at K = 1536, inside the 1e-5.
func matmulBound(K int) float64 { return (2*math.Sqrt(float64(K)) + 8) * ulp32 }

type matmulCase struct {
	M, N, K int
	bias    bool
	ep      gpu.Epilogue
}

// matmulCases covers 1, odd sizes, DeiT sizes and sizes just below and above
// both variants' tiles (CPU: 8 rows × 64 columns per workgroup, k by 4;
// GPU: 64 × 64 per workgroup, k by 16), aligned (K, N multiples of 4: the
// vec4 path) and not.
func matmulCases() []matmulCase {
	var cs []matmulCase
	for _, ep := range []gpu.Epilogue{gpu.EpilogueNone, gpu.EpilogueGELU, gpu.EpilogueResidual} {
		cs = append(cs,
			matmulCase{1, 1, 1, true, ep},
			matmulCase{3, 7, 5, ep != gpu.EpilogueGELU, ep},
			matmulCase{7, 3, 1, true, ep},
			matmulCase{8, 64, 4, true, ep},
			matmulCase{9, 68, 12, false, ep},
			matmulCase{65, 65, 17, true, ep},
			matmulCase{63, 129, 33, true, ep},
		)
	}
	cs = append(cs,
		matmulCase{198, 1000, 7, true, gpu.EpilogueNone},
		matmulCase{1001, 3, 3, true, gpu.EpilogueResidual},
		matmulCase{2, 1000, 384, true, gpu.EpilogueNone}, // classifier head
		matmulCase{197, 96, 384, true, gpu.EpilogueGELU},
		matmulCase{198, 128, 384, true, gpu.EpilogueResidual},
		matmulCase{31, 72, 1536, true, gpu.EpilogueResidual}, // fc2, the largest K
		matmulCase{13, 37, 1537, true, gpu.EpilogueNone},     // large odd K (scalar path)
		matmulCase{128, 64, 1, false, gpu.EpilogueGELU},
		matmulCase{300, 70, 20, true, gpu.EpilogueGELU}, // M > 256: the GPU variant's large tile
	)
	return cs
}

func TestMatmul(t *testing.T) {
	for _, v := range []gpu.Variant{gpu.VariantCPU, gpu.VariantGPU} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			for i, c := range matmulCases() {
				name := fmt.Sprintf("M%d_N%d_K%d_bias%v_%v", c.M, c.N, c.K, c.bias, c.ep)
				t.Run(name, func(t *testing.T) {
					seed := uint64(1000 + i)
					t.Logf("seed %d", seed)
					a := opsRand(seed, c.M*c.K, -1, 1)
					w := opsRand(seed+1, c.K*c.N, -1, 1)
					var bias, r []float32
					biasArg, rArg := gpu.Arg{}, gpu.Arg{}
					if c.bias {
						bias = opsRand(seed+2, c.N, -1, 1)
						biasArg = gpu.R(e.upload(t, bias))
					}
					if c.ep == gpu.EpilogueResidual {
						r = opsRand(seed+3, c.M*c.N, -1, 1)
						rArg = gpu.R(e.upload(t, r))
					}
					ab, wb := e.upload(t, a), e.upload(t, w)
					cb := e.poisoned(t, c.M*c.N)
					e.run(t, func(s *gpu.Sequence) error {
						return e.ops.Matmul(s, gpu.W(cb), gpu.R(ab), gpu.R(wb), biasArg, rArg, c.M, c.N, c.K, c.ep)
					})
					got := e.download(t, cb, c.M*c.N)
					requireOpsClose(t, name, got, refMatmul(a, w, bias, r, c.M, c.N, c.K, c.ep), matmulBound(c.K))
				})
			}
		})
	}
}

// TestMatmulResidualInPlace checks c == r (x += A·W + b), which the model
// uses for its residual connections.
func TestMatmulResidualInPlace(t *testing.T) {
	for _, v := range []gpu.Variant{gpu.VariantCPU, gpu.VariantGPU} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			const M, N, K = 70, 68, 40
			a, w, bias, x := opsRand(1100, M*K, -1, 1), opsRand(1101, K*N, -1, 1), opsRand(1102, N, -1, 1), opsRand(1103, M*N, -1, 1)
			ab, wb, bb, xb := e.upload(t, a), e.upload(t, w), e.upload(t, bias), e.upload(t, x)
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.Matmul(s, gpu.W(xb), gpu.R(ab), gpu.R(wb), gpu.R(bb), gpu.R(xb), M, N, K, gpu.EpilogueResidual)
			})
			requireOpsClose(t, "in place", e.download(t, xb, M*N), refMatmul(a, w, bias, x, M, N, K, gpu.EpilogueResidual), matmulBound(K))
		})
	}
}

func TestMatmulRejectsBadArgs(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	small := e.upload(t, make([]float32, 6))
	big := e.upload(t, make([]float32, 64))
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	for _, c := range []struct {
		name    string
		c, a, w gpu.Arg
		M, N, K int
		ep      gpu.Epilogue
		want    string
	}{
		{"zero M", gpu.W(big), gpu.R(big), gpu.R(big), 0, 2, 2, gpu.EpilogueNone, "positive"},
		{"short A", gpu.W(big), gpu.R(small), gpu.R(big), 4, 2, 2, gpu.EpilogueNone, "A holds 24 bytes, needs 32"},
		{"short C", gpu.W(small), gpu.R(big), gpu.R(big), 4, 2, 2, gpu.EpilogueNone, "C holds"},
		{"no W", gpu.W(big), gpu.R(big), gpu.Arg{}, 2, 2, 2, gpu.EpilogueNone, "W: no buffer"},
		{"residual without R", gpu.W(big), gpu.R(big), gpu.R(big), 2, 2, 2, gpu.EpilogueResidual, "R: no buffer"},
		{"bad epilogue", gpu.W(big), gpu.R(big), gpu.R(big), 2, 2, 2, gpu.Epilogue(7), "unknown epilogue"},
	} {
		err := e.ops.Matmul(s, c.c, c.a, c.w, gpu.Arg{}, gpu.Arg{}, c.M, c.N, c.K, c.ep)
		require.ErrorContains(t, err, c.want, c.name)
	}
}
