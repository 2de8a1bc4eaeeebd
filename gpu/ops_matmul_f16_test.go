package gpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
)

// matmulF16Bound is the relative L2 error allowed for an fp16 matmul whose
// inputs are fp16 already (the twin computes from the same rounded values):
// the products of two fp16 values are exact in fp32 and the sum is fp32, so
// the fp32 bound applies unchanged (times accFactor for accumulators that
// may round less carefully than IEEE fp32: tensor cores), plus one fp16
// rounding of C when it is stored as fp16 (≤ ulp16 relative per element).
func matmulF16Bound(K int, out gpu.DType, accFactor float64) float64 {
	b := accFactor * matmulBound(K)
	if out == gpu.F16 {
		b += ulp16
	}
	return b
}

// f16Cases are the fp16 matmul shapes: 1, odd sizes and tails around every
// tile, both vec4 (K, N multiples of 4) and scalar loads, DeiT's K = 384 and
// 1536, and M, N, K of 198, 1000 and 1001. Kept small: lavapipe lowers the
// cooperative-matrix kernel to scalar code.
func f16Cases() []matmulCase {
	var cs []matmulCase
	for _, ep := range []gpu.Epilogue{gpu.EpilogueNone, gpu.EpilogueGELU, gpu.EpilogueResidual} {
		cs = append(cs,
			matmulCase{1, 1, 1, true, ep},
			matmulCase{3, 7, 5, ep != gpu.EpilogueGELU, ep},
			matmulCase{17, 36, 40, true, ep},
			matmulCase{33, 65, 19, true, ep},
		)
	}
	return append(cs,
		matmulCase{198, 1000, 7, true, gpu.EpilogueNone},
		matmulCase{198, 96, 384, true, gpu.EpilogueGELU},
		matmulCase{1001, 3, 9, true, gpu.EpilogueResidual},
		matmulCase{5, 13, 1001, true, gpu.EpilogueNone},
		matmulCase{7, 40, 1536, true, gpu.EpilogueResidual},
		matmulCase{2, 1000, 96, true, gpu.EpilogueNone},
	)
}

// TestMatmulF16 runs the fp16-storage matmuls without cooperative matrices
// (both kernel designs; C fp16 and fp32) against the float64 twin.
func TestMatmulF16(t *testing.T) {
	for _, v := range []gpu.Variant{gpu.VariantRegBlock, gpu.VariantTiled} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			requireFP16(t, e.d)
			e.ops.SetCoopMatForTest(false)
			for i, c := range f16Cases() {
				out := gpu.F16
				if i%2 == 1 {
					out = gpu.F32
				}
				e.checkMatmulF16(t, c, out, uint64(8000+i), 1)
			}
		})
	}
}

// checkMatmulF16 runs one fp16 case (A, W rounded to fp16; bias, R fp32)
// into a NaN-poisoned C of type out and compares with the float64 twin.
func (e *opsEnv) checkMatmulF16(t *testing.T, c matmulCase, out gpu.DType, seed uint64, accFactor float64) {
	name := fmt.Sprintf("M%d_N%d_K%d_bias%v_%v_%v", c.M, c.N, c.K, c.bias, c.ep, out)
	t.Run(name, func(t *testing.T) {
		t.Logf("seed %d", seed)
		a := halves(opsRand(seed, c.M*c.K, -1, 1))
		w := halves(opsRand(seed+1, c.K*c.N, -1, 1))
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
		ab, wb := e.uploadTyped(t, a, gpu.F16), e.uploadTyped(t, w, gpu.F16)
		cb := e.poisonedTyped(t, c.M*c.N, out)
		e.run(t, func(s *gpu.Sequence) error {
			return e.ops.Matmul(s, gpu.W(cb).As(out), gpu.R(ab).As(gpu.F16), gpu.R(wb).As(gpu.F16), biasArg, rArg, c.M, c.N, c.K, c.ep)
		})
		got := e.downloadTyped(t, cb, c.M*c.N, out)
		requireOpsClose(t, name, got, refMatmul(a, w, bias, r, c.M, c.N, c.K, c.ep), matmulF16Bound(c.K, out, accFactor))
	})
}

func TestMatmulF16RejectsBadTypes(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	b := e.upload(t, make([]float32, 64))
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	h := gpu.R(b).As(gpu.F16)
	for _, c := range []struct {
		name       string
		c, a, w, r gpu.Arg
		ep         gpu.Epilogue
		want       string
	}{
		{"mixed A and W", gpu.W(b), h, gpu.R(b), gpu.Arg{}, gpu.EpilogueNone, "W is f32 but A is f16"},
		{"f16 C from f32 inputs", gpu.W(b).As(gpu.F16), gpu.R(b), gpu.R(b), gpu.Arg{}, gpu.EpilogueNone, "C is f16, must be f32"},
		{"f16 residual", gpu.W(b), h, h, h, gpu.EpilogueResidual, "R is f16, must be f32"},
		{"unknown type", gpu.W(b), gpu.R(b).As(7), gpu.R(b).As(7), gpu.Arg{}, gpu.EpilogueNone, "A is DType(7)"},
	} {
		err := e.ops.Matmul(s, c.c, c.a, c.w, gpu.Arg{}, c.r, 4, 4, 4, c.ep)
		require.ErrorContains(t, err, c.want, c.name)
	}
	// Sizes count elements of the argument's type: 64 floats hold 128 halves.
	if e.d.Info().FP16() {
		require.NoError(t, e.ops.Matmul(s, gpu.W(e.upload(t, make([]float32, 8*16))).As(gpu.F16), h, h, gpu.Arg{}, gpu.Arg{}, 8, 16, 8, gpu.EpilogueNone))
		err = e.ops.Matmul(s, gpu.W(b), h, h, gpu.Arg{}, gpu.Arg{}, 8, 8, 17, gpu.EpilogueNone)
		require.ErrorContains(t, err, "A holds 256 bytes, needs 272 (136 f16 values)")
	}
}
