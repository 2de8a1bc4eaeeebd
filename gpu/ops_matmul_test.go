package gpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
)

// matmulBound is the fp32 matmul parity bound (gpu/tune_bounds.go).
func matmulBound(K int) float64 { return gpu.MatmulBoundForTest(K) }

type matmulCase struct {
	M, N, K int
	bias    bool
	ep      gpu.Epilogue
}

// matmulCases covers 1, odd sizes, DeiT sizes and sizes just below and above
// the CPU variant's tile (8 rows × 64 columns per workgroup, k by 4), aligned
// (K, N multiples of 4: the vec4 path) and not. The GPU variant picks its
// tile by shape (mostly the small split-K ones here); TestMatmulTiledTiles
// forces each of its tiles.
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
		matmulCase{300, 70, 20, true, gpu.EpilogueGELU},
	)
	return cs
}

func TestMatmul(t *testing.T) {
	for _, v := range []gpu.Variant{gpu.VariantRegBlock, gpu.VariantTiled} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			for i, c := range matmulCases() {
				e.checkMatmul(t, c, uint64(1000+i))
			}
		})
	}
}

// checkMatmul runs one case on e against the float64 twin, C poisoned with NaN.
func (e *opsEnv) checkMatmul(t *testing.T, c matmulCase, seed uint64) {
	name := fmt.Sprintf("M%d_N%d_K%d_bias%v_%v", c.M, c.N, c.K, c.bias, c.ep)
	t.Run(name, func(t *testing.T) {
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

// tileCases has, for one tile, shapes with a partial last tile on M and N,
// K over several double-buffered steps with a partial last step, scalar
// (N or K not a multiple of 4) and vec4 loads, and every epilogue.
func tileCases(tile [6]uint32) []matmulCase {
	BM, BN, BK := int(tile[0]), int(tile[1]), int(tile[2])
	return []matmulCase{
		{1, 7, 3, false, gpu.EpilogueResidual},
		{BM + 3, BN + 5, 2*BK + 3, true, gpu.EpilogueNone},
		{2*BM - 1, BN + 4, 2*BK + 4, true, gpu.EpilogueGELU},
		{BM - 1, 2 * BN, 3*BK - 4, true, gpu.EpilogueResidual},
		{BM + 1, BN - 1, BK + 1, false, gpu.EpilogueGELU},
		{5, BN + 12, 4*BK + 8, false, gpu.EpilogueNone},
	}
}

// TestMatmulTiledTiles runs every shipped matmul_tiled tile (forced for every
// shape) on the default device, lavapipe included.
func TestMatmulTiledTiles(t *testing.T) {
	for ti, tile := range gpu.MatmulTilesForTest() {
		t.Run(fmt.Sprintf("tile%v", tile), func(t *testing.T) {
			e := newOpsEnv(t, gpu.VariantTiled)
			e.ops.SetMatmulTileForTest(tile)
			for i, c := range tileCases(tile) {
				e.checkMatmul(t, c, uint64(2000+100*ti+i))
			}
			e.checkMatmulInPlace(t, int(tile[0])+2, int(tile[1])+4, 2*int(tile[2])+4)
		})
	}
}

// TestMatmulTiledTileRejected checks that a tile the shader cannot run is an
// error, not a wrong answer.
func TestMatmulTiledTileRejected(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantTiled)
	for _, tile := range [][6]uint32{
		{64, 64, 16, 2, 4, 256},   // TM not a multiple of 4
		{64, 64, 16, 4, 4, 128},   // fewer invocations than one slice
		{32, 32, 30, 4, 4, 256},   // BK not a multiple of 4·S
		{128, 128, 64, 8, 8, 256}, // 64 KiB of shared memory
	} {
		e.ops.SetMatmulTileForTest(tile)
		s, err := e.d.NewSequence(false)
		require.NoError(t, err)
		buf := e.upload(t, make([]float32, 64))
		err = e.ops.Matmul(s, gpu.W(buf), gpu.R(buf), gpu.R(buf), gpu.Arg{}, gpu.Arg{}, 4, 4, 4, gpu.EpilogueNone)
		require.ErrorContains(t, err, "unusable tile", "%v", tile)
		s.Close()
	}
}

// TestMatmulResidualInPlace checks c == r (x += A·W + b), which the model
// uses for its residual connections.
func TestMatmulResidualInPlace(t *testing.T) {
	for _, v := range []gpu.Variant{gpu.VariantRegBlock, gpu.VariantTiled} {
		t.Run(v.String(), func(t *testing.T) {
			newOpsEnv(t, v).checkMatmulInPlace(t, 70, 68, 40)
		})
	}
}

func (e *opsEnv) checkMatmulInPlace(t *testing.T, M, N, K int) {
	t.Run(fmt.Sprintf("in_place_M%d_N%d_K%d", M, N, K), func(t *testing.T) {
		a, w, bias, x := opsRand(1100, M*K, -1, 1), opsRand(1101, K*N, -1, 1), opsRand(1102, N, -1, 1), opsRand(1103, M*N, -1, 1)
		ab, wb, bb, xb := e.upload(t, a), e.upload(t, w), e.upload(t, bias), e.upload(t, x)
		e.run(t, func(s *gpu.Sequence) error {
			return e.ops.Matmul(s, gpu.W(xb), gpu.R(ab), gpu.R(wb), gpu.R(bb), gpu.R(xb), M, N, K, gpu.EpilogueResidual)
		})
		requireOpsClose(t, "in place", e.download(t, xb, M*N), refMatmul(a, w, bias, x, M, N, K, gpu.EpilogueResidual), matmulBound(K))
	})
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
		{"M·N wrapping int64", gpu.W(big), gpu.R(big), gpu.R(big), 2, 1 << 62, 2, gpu.EpilogueNone, "32-bit indexing"},
		{"short A", gpu.W(big), gpu.R(small), gpu.R(big), 4, 2, 2, gpu.EpilogueNone, "A holds 24 bytes, needs 32"},
		{"short C", gpu.W(small), gpu.R(big), gpu.R(big), 4, 2, 2, gpu.EpilogueNone, "C holds"},
		{"no W", gpu.W(big), gpu.R(big), gpu.Arg{}, 2, 2, 2, gpu.EpilogueNone, "W: no buffer"},
		{"A range overflowing int64", gpu.W(big), gpu.R(big).Range(64, math.MaxInt64), gpu.R(big), 2, 2, 2, gpu.EpilogueNone,
			"A: range [64, +9223372036854775807) outside a 256-byte buffer"},
		{"residual without R", gpu.W(big), gpu.R(big), gpu.R(big), 2, 2, 2, gpu.EpilogueResidual, "R: no buffer"},
		{"bad epilogue", gpu.W(big), gpu.R(big), gpu.R(big), 2, 2, 2, gpu.Epilogue(7), "unknown epilogue"},
	} {
		err := e.ops.Matmul(s, c.c, c.a, c.w, gpu.Arg{}, gpu.Arg{}, c.M, c.N, c.K, c.ep)
		require.ErrorContains(t, err, c.want, c.name)
	}
}
