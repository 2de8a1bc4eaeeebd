package gpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
)

// BenchmarkMatmulPrecision measures the DeiT-small matmul shapes (benchMs)
// with fp32 A and W, fp16 A and W without cooperative matrices (fp16 C), and
// on cooperative matrices where the device has them. Metric: GFLOPS
// (2·M·N·K per op), the number to hold against the tensor-core peak.
func BenchmarkMatmulPrecision(b *testing.B) {
	d := openOpsBench(b)
	ops, err := gpu.NewOps(d)
	require.NoError(b, err)
	type path struct {
		name string
		half bool
		coop bool
	}
	paths := []path{{"fp32", false, false}}
	if d.Info().FP16() {
		paths = append(paths, path{"fp16", true, false})
	}
	if cm, ok := ops.CoopMat(); ok {
		paths = append(paths, path{fmt.Sprintf("fp16-coopmat-%dx%dx%d", cm.M, cm.N, cm.K), true, true})
	}
	for _, M := range benchMs(d) {
		for _, kn := range deitSmallShapes {
			K, N := kn[0], kn[1]
			a, w, bias := opsRand(1, M*K, -1, 1), opsRand(2, K*N, -1, 1), opsRand(3, N, -1, 1)
			for _, p := range paths {
				b.Run(fmt.Sprintf("%s/M%d_K%d_N%d", p.name, M, K, N), func(b *testing.B) {
					ops.SetCoopMatForTest(p.coop)
					defer ops.SetCoopMatForTest(true)
					typ := gpu.F32
					if p.half {
						typ = gpu.F16
					}
					ab, wb := halfOrFloatBuf(b, d, a, typ), halfOrFloatBuf(b, d, w, typ)
					bb, cb := opsBuf(b, d, bias), halfOrFloatBuf(b, d, make([]float32, M*N), typ)
					benchRun(b, d, 2*float64(M)*float64(N)*float64(K), func(s *gpu.Sequence) error {
						return ops.Matmul(s, gpu.W(cb).As(typ), gpu.R(ab).As(typ), gpu.R(wb).As(typ), gpu.R(bb), gpu.Arg{}, M, N, K, gpu.EpilogueNone)
					})
				})
			}
		}
	}
}

// halfOrFloatBuf uploads data as fp32 or fp16 for a benchmark.
func halfOrFloatBuf(b *testing.B, d *gpu.Device, data []float32, typ gpu.DType) *gpu.Buffer {
	if typ == gpu.F32 {
		return opsBuf(b, d, data)
	}
	buf, err := d.NewBuffer(int64(2 * len(data)))
	require.NoError(b, err)
	require.NoError(b, d.WriteHalf(buf, 0, gpu.ToHalf(data)))
	return buf
}
