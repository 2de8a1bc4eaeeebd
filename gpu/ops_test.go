package gpu_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/gpu/gputest"
	"github.com/vkdeit/vkdeit/internal/ref"
)

// ulp32 is the fp32 unit roundoff u = 2⁻²⁴: every fp32 operation is exact to
// within a relative u, so error bounds below are written in units of u.
const ulp32 = 1.0 / (1 << 24)

// opsEnv is a validated device plus Ops of one variant.
type opsEnv struct {
	d   *gpu.Device
	ops *gpu.Ops
}

func newOpsEnv(t *testing.T, v gpu.Variant) *opsEnv {
	t.Helper()
	d := gputest.Open(t)
	ops, err := gpu.NewOpsVariant(d, v)
	require.NoError(t, err)
	t.Logf("device %s (%v), ops variant %v", d.Info().Name, d.Info().Type, ops.Variant())
	return &opsEnv{d: d, ops: ops}
}

// upload returns a buffer holding data (at least 4 bytes).
func (e *opsEnv) upload(t *testing.T, data []float32) *gpu.Buffer {
	t.Helper()
	b, err := e.d.NewBuffer(int64(4 * max(len(data), 1)))
	require.NoError(t, err)
	if len(data) > 0 {
		require.NoError(t, e.d.Write(b, 0, data))
	}
	return b
}

// poisoned returns a buffer of n floats all set to NaN, so that any element
// a kernel fails to write shows up in the comparison.
func (e *opsEnv) poisoned(t *testing.T, n int) *gpu.Buffer {
	t.Helper()
	nan := make([]float32, n)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	return e.upload(t, nan)
}

// run records with rec into a fresh sequence, runs it once and closes it.
func (e *opsEnv) run(t *testing.T, rec func(s *gpu.Sequence) error) {
	t.Helper()
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, rec(s))
	require.NoError(t, s.Finish())
	require.NoError(t, s.Run(context.Background()))
}

// download reads n floats from b.
func (e *opsEnv) download(t *testing.T, b *gpu.Buffer, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	require.NoError(t, e.d.Read(b, 0, out))
	return out
}

// opsRand returns n values uniform in [lo, hi) from a fixed seed.
func opsRand(seed uint64, n int, lo, hi float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return s
}

// requireOpsClose checks ‖got − want‖/‖want‖ ≤ bound, logs the relative error
// and the worst element, and fails on any NaN (an unwritten element).
func requireOpsClose(t *testing.T, what string, got []float32, want []float64, bound float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", what)
	var num, den, worst float64
	wi := -1
	for i, g := range got {
		if math.IsNaN(float64(g)) {
			t.Fatalf("%s: element %d is NaN (unwritten or invalid), want %g", what, i, want[i])
		}
		d := float64(g) - want[i]
		num += d * d
		den += want[i] * want[i]
		if math.Abs(d) > worst || wi < 0 {
			worst, wi = math.Abs(d), i
		}
	}
	rel := math.Sqrt(num / den)
	if den == 0 {
		rel = math.Sqrt(num)
	}
	t.Logf("%s: rel L2 err %.3g (bound %.3g), worst element %d: got %.9g want %.9g (|diff| %.3g)",
		what, rel, bound, wi, got[wi], want[wi], worst)
	require.LessOrEqual(t, rel, bound, "%s: relative L2 error; worst element %d got %g want %g", what, wi, got[wi], want[wi])
}

// requireOpsExact checks that a pure data-movement kernel reproduced want bit
// for bit (want is exactly representable in fp32).
func requireOpsExact(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", what)
	for i := range got {
		if got[i] != float32(want[i]) {
			t.Fatalf("%s: element %d: got %g, want %g", what, i, got[i], want[i])
		}
	}
	t.Logf("%s: %d elements exact", what, len(got))
}

// refMatmul is ref.Matmul with the gpu epilogue mapped to its twin's.
func refMatmul(a, w, bias, r []float32, M, N, K int, ep gpu.Epilogue) []float64 {
	twin := map[gpu.Epilogue]ref.Epilogue{
		gpu.EpilogueNone: ref.EpilogueNone, gpu.EpilogueGELU: ref.EpilogueGELU, gpu.EpilogueResidual: ref.EpilogueResidual,
	}
	return ref.Matmul(a, w, bias, r, M, N, K, twin[ep])
}

// ulp16 is the fp16 unit roundoff 2⁻¹¹: rounding a value to fp16 moves it by
// at most a relative ulp16 (normal range), so storing an fp16 result adds at
// most ulp16 to a relative L2 error.
const ulp16 = 1.0 / (1 << 11)

// halves rounds every value to fp16 and back: the exact inputs an fp16
// kernel sees, so that the float64 twin computes from the same numbers.
func halves(x []float32) []float32 { return gpu.FromHalf(gpu.ToHalf(x)) }

// uploadTyped returns a buffer holding data as element type t (data must
// already be representable for F16: see halves).
func (e *opsEnv) uploadTyped(t *testing.T, data []float32, typ gpu.DType) *gpu.Buffer {
	t.Helper()
	if typ == gpu.F32 {
		return e.upload(t, data)
	}
	b, err := e.d.NewBuffer(int64(2 * max(len(data), 2)))
	require.NoError(t, err)
	if len(data) > 0 {
		require.NoError(t, e.d.WriteHalf(b, 0, gpu.ToHalf(data)))
	}
	return b
}

// poisonedTyped is poisoned for element type t (fp16 NaN is 0x7e00).
func (e *opsEnv) poisonedTyped(t *testing.T, n int, typ gpu.DType) *gpu.Buffer {
	t.Helper()
	nan := make([]float32, n)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	return e.uploadTyped(t, nan, typ)
}

// downloadTyped reads n values of type t from b as float32.
func (e *opsEnv) downloadTyped(t *testing.T, b *gpu.Buffer, n int, typ gpu.DType) []float32 {
	t.Helper()
	if typ == gpu.F32 {
		return e.download(t, b, n)
	}
	h := make([]uint16, n)
	require.NoError(t, e.d.ReadHalf(b, 0, h))
	return gpu.FromHalf(h)
}

// requireFP16 skips a test on a device without fp16 kernels, unless $CI is
// set and $VKDEIT_REQUIRE_FP16 is 1 (both lanes' lavapipe have them).
func requireFP16(t *testing.T, d *gpu.Device) {
	t.Helper()
	if !d.Info().FP16() {
		if os.Getenv("VKDEIT_REQUIRE_FP16") == "1" {
			t.Fatalf("VKDEIT_REQUIRE_FP16=1 but %s has no fp16 support", d.Info().Name)
		}
		t.Skipf("%s has no shaderFloat16 + 16-bit storage", d.Info().Name)
	}
}

// requireCoopMat skips a test on a device without cooperative matrices,
// unless $VKDEIT_REQUIRE_COOPMAT is 1 (make test-coopmat sets it on the
// coopmat lane), where that fails it.
func requireCoopMat(t *testing.T, d *gpu.Device) {
	t.Helper()
	if !d.Info().CoopMat {
		if os.Getenv("VKDEIT_REQUIRE_COOPMAT") == "1" {
			t.Fatalf("VKDEIT_REQUIRE_COOPMAT=1 but %s: %s", d.Info().Name, d.Info().CoopMatNote)
		}
		t.Skipf("no cooperative matrices on %s (%s); make test-coopmat runs these on lavapipe 26", d.Info().Name, d.Info().CoopMatNote)
	}
}
