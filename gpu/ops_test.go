package gpu_test

import (
	"context"
	"math"
	"math/rand/v2"
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

// refMatmul is ref.Matmul with the gpu epilogue (the numbering is shared).
func refMatmul(a, w, bias, r []float32, M, N, K int, ep gpu.Epilogue) []float64 {
	return ref.Matmul(a, w, bias, r, M, N, K, ref.Epilogue(ep))
}
