package gpu_test

import (
	_ "embed"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
)

// Test kernels, compiled from testdata/*.comp with
// glslc --target-env=vulkan1.1 -O.
var (
	//go:embed testdata/add.spv
	addSPV []byte
	//go:embed testdata/inc.spv
	incSPV []byte
)

// rtAdd is y = x*SCALE + add (bindings: x readonly, y writeonly).
var rtAdd = gpu.Kernel{Name: "test-add", SPIRV: addSPV, Bindings: 2, PushBytes: 8}

// rtInc is a += add in place (binding 0 read-write).
var rtInc = gpu.Kernel{Name: "test-inc", SPIRV: incSPV, Bindings: 1, PushBytes: 8}

// rtGroups is the workgroup count for n elements of a 64-wide kernel.
func rtGroups(n int) [3]uint32 { return [3]uint32{uint32((n + 63) / 64), 1, 1} }

// rtRandom returns n floats in [-1, 1) from a fixed seed.
func rtRandom(t testing.TB, seed int64, n int) []float32 {
	t.Logf("random input: seed %d, %d values", seed, n)
	r := rand.New(rand.NewSource(seed))
	out := make([]float32, n)
	for i := range out {
		out[i] = 2*r.Float32() - 1
	}
	return out
}

// rtNaNs returns n NaNs, used to poison outputs so unwritten elements fail.
func rtNaNs(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(math.NaN())
	}
	return out
}

// rtBuffer makes a device buffer holding data.
func rtBuffer(t testing.TB, d *gpu.Device, data []float32) *gpu.Buffer {
	t.Helper()
	b, err := d.NewBuffer(int64(4 * len(data)))
	require.NoError(t, err)
	require.NoError(t, d.Write(b, 0, data))
	return b
}

// rtRead reads n floats from b.
func rtRead(t testing.TB, d *gpu.Device, b *gpu.Buffer, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	require.NoError(t, d.Read(b, 0, out))
	return out
}
