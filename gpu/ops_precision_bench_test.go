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

// BenchmarkMatmulCoopMatTiles compares matmul_coopmat tilings (SGM, SGN, RM,
// RN, BK, subgroups; zero = the per-shape choice) at DeiT-small's batch-256
// shapes (M = 50688), as tuning data for a GPU run: 2×2 to 4×2 subgroups,
// 1×1 to 4×2 accumulators each, BK 32 and 64. Metric: GFLOPS. Real GPUs
// only: lavapipe lowers cooperative matrices to scalar code.
func BenchmarkMatmulCoopMatTiles(b *testing.B) {
	d := openOpsBench(b)
	if d.Info().Type == gpu.DeviceCPU {
		b.Skip("coopmat tiles are for GPUs")
	}
	ops, err := gpu.NewOps(d)
	require.NoError(b, err)
	cm, ok := ops.CoopMat()
	if !ok {
		b.Skipf("no cooperative matrices: %s", d.Info().CoopMatNote)
	}
	sub := d.Info().SubgroupSize
	tiles := [][6]uint32{{}}
	for _, t := range [][5]uint32{{2, 2, 2, 2, 32}, {2, 2, 4, 2, 32}, {2, 2, 2, 4, 32}, {4, 2, 2, 2, 32}, {2, 2, 2, 2, 64}, {2, 2, 4, 4, 32}, {2, 2, 1, 1, 32}} {
		tiles = append(tiles, [6]uint32{t[0], t[1], t[2], t[3], max(t[4], cm.K), t[0] * t[1] * sub})
	}
	const M = 50688
	for _, kn := range deitSmallShapes {
		K, N := kn[0], kn[1]
		ab := halfOrFloatBuf(b, d, opsRand(1, M*K, -1, 1), gpu.F16)
		wb := halfOrFloatBuf(b, d, opsRand(2, K*N, -1, 1), gpu.F16)
		bb := opsBuf(b, d, opsRand(3, N, -1, 1))
		cb := halfOrFloatBuf(b, d, make([]float32, M*N), gpu.F16)
		for _, tile := range tiles {
			name := "default"
			if tile[0] != 0 {
				name = fmt.Sprintf("tile%v", tile)
			}
			b.Run(fmt.Sprintf("M%d_K%d_N%d/%s", M, K, N, name), func(b *testing.B) {
				ops.SetCoopMatmulTileForTest(tile)
				defer ops.SetCoopMatmulTileForTest([6]uint32{})
				benchRun(b, d, 2*float64(M)*float64(N)*float64(K), func(s *gpu.Sequence) error {
					return ops.Matmul(s, gpu.W(cb).As(gpu.F16), gpu.R(ab).As(gpu.F16), gpu.R(wb).As(gpu.F16), gpu.R(bb), gpu.Arg{}, M, N, K, gpu.EpilogueNone)
				})
			})
		}
	}
}
