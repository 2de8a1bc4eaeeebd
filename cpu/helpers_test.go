package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// u is the float32 unit roundoff, 2⁻²⁴.
const u = 1.0 / (1 << 24)

// randSlice returns n deterministic values uniform in [lo, hi).
func randSlice(seed uint64, n int, lo, hi float32) []float32 {
	r := rand.New(rand.NewPCG(seed, 0xc0ffee))
	x := make([]float32, n)
	for i := range x {
		x[i] = lo + (hi-lo)*r.Float32()
	}
	return x
}

// poisoned returns n NaNs: any element a kernel fails to write stays NaN.
func poisoned(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return x
}

// forEachISA runs f once per ISA this CPU supports, skipping the others.
func forEachISA(t *testing.T, f func(t *testing.T, isa ISA)) {
	for _, isa := range ISAs() {
		t.Run(isa.String(), func(t *testing.T) {
			if !isa.Supported() {
				t.Skipf("%v not supported on this CPU/build", isa)
			}
			f(t, isa)
		})
	}
}

// newKernels returns kernels closed at the end of the test.
func newKernels(t testing.TB, isa ISA, threads int) *Kernels {
	t.Helper()
	k, err := New(isa, threads)
	require.NoError(t, err)
	t.Cleanup(k.Close)
	return k
}

// checkBound fails on the first element with |got − want| > bound(i) (or a
// NaN), and logs the worst element relative to its bound and the relative
// L2 error ‖got − want‖/‖want‖.
func checkBound(t *testing.T, what string, got []float32, want []float64, bound func(i int) float64) (rel float64) {
	t.Helper()
	require.Len(t, got, len(want), what)
	var num, den, worstRatio float64
	worst := 0
	for i, w := range want {
		d := math.Abs(float64(got[i]) - w)
		if math.IsNaN(float64(got[i])) || d > bound(i) {
			t.Fatalf("%s: element %d = %.9g, want %.9g (|diff| %.3g > bound %.3g)", what, i, got[i], w, d, bound(i))
		}
		num += d * d
		den += w * w
		if r := d / bound(i); r > worstRatio {
			worstRatio, worst = r, i
		}
	}
	if den > 0 {
		rel = math.Sqrt(num / den)
	}
	t.Logf("%s: relative L2 error %.3g; worst element %d: got %.9g want %.9g (%.2f of its bound)",
		what, rel, worst, got[worst], want[worst], worstRatio)
	return rel
}

// bitsEqual fails unless a and b are identical bit for bit.
func bitsEqual(t *testing.T, what string, a, b []float32) {
	t.Helper()
	require.Len(t, b, len(a), what)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s: element %d differs: %.9g vs %.9g", what, i, a[i], b[i])
		}
	}
}
