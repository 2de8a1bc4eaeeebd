package gpu_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/cpu"
	"github.com/vkdeit/vkdeit/gpu"
)

// deitSmallShapes are the (K, N) of DeiT-small's four linear layers: QKV,
// attention projection, fc1 and fc2.
var deitSmallShapes = [][2]int{{384, 1152}, {384, 384}, {384, 1536}, {1536, 384}}

// benchMs are the matmul M of the benchmarks: 198 (one image), 1584 (a
// batch of 8) and, on GPUs only, 50688 (a batch of 256).
func benchMs(d *gpu.Device) []int {
	if d.Info().Type == gpu.DeviceCPU {
		return []int{198, 1584}
	}
	return []int{198, 1584, 50688}
}

// BenchmarkMatmul measures the DeiT-small matmul shapes (benchMs) on the
// default device with the device-class kernel variant and its per-shape tile
// ("vulkan"), next to the SIMD CPU GEMM of package cpu on every core ("cpu";
// not for M = 50688). Metric: GFLOPS (2·M·N·K per op).
func BenchmarkMatmul(b *testing.B) {
	d := openOpsBench(b)
	ops, err := gpu.NewOps(d)
	require.NoError(b, err)
	for _, M := range benchMs(d) {
		for _, kn := range deitSmallShapes {
			K, N := kn[0], kn[1]
			a := opsRand(1, M*K, -1, 1)
			w := opsRand(2, K*N, -1, 1)
			bias := opsRand(3, N, -1, 1)
			flops := 2 * float64(M) * float64(N) * float64(K)
			shape := fmt.Sprintf("M%d_K%d_N%d", M, K, N)
			b.Run("vulkan-"+ops.Variant().String()+"/"+shape, func(b *testing.B) {
				benchMatmul(b, d, ops, a, w, bias, M, N, K)
			})
			if M > 2048 {
				continue
			}
			b.Run("cpu-"+cpu.Best().String()+"/"+shape, func(b *testing.B) {
				k, err := cpu.New(cpu.Auto, 0)
				require.NoError(b, err)
				defer k.Close()
				pw, err := cpu.PackB(w, K, N)
				require.NoError(b, err)
				c := make([]float32, M*N)
				for b.Loop() {
					if err := k.Gemm(c, a, pw, bias, nil, M, cpu.EpilogueNone); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// benchReps is how many dispatches one benchmarked Run records: one on a CPU
// driver (each takes milliseconds), 20 on a GPU so that submit and fence
// latency do not dominate.
func benchReps(d *gpu.Device) int {
	if d.Info().Type == gpu.DeviceCPU {
		return 1
	}
	return 20
}

// openOpsBench opens the default device without validation.
func openOpsBench(b *testing.B) *gpu.Device {
	d, err := gpu.Open(gpu.Options{})
	if err != nil {
		if errors.Is(err, gpu.ErrNoDevice) && os.Getenv("CI") == "" {
			b.Skipf("no Vulkan device: %v", err)
		}
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// benchRun records rec reps times into one sequence and reports GFLOPS for
// flops per recorded op.
func benchRun(b *testing.B, d *gpu.Device, flops float64, rec func(s *gpu.Sequence) error) {
	s, err := d.NewSequence(false)
	require.NoError(b, err)
	defer s.Close()
	n := benchReps(d)
	for i := 0; i < n; i++ {
		require.NoError(b, rec(s))
	}
	require.NoError(b, s.Finish())
	ctx := context.Background()
	require.NoError(b, s.Run(ctx)) // warm-up (first-run costs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Run(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(flops*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
}

func benchMatmul(b *testing.B, d *gpu.Device, ops *gpu.Ops, a, w, bias []float32, M, N, K int) {
	ab, wb, bb, cb := opsBuf(b, d, a), opsBuf(b, d, w), opsBuf(b, d, bias), opsBuf(b, d, make([]float32, M*N))
	benchRun(b, d, 2*float64(M)*float64(N)*float64(K), func(s *gpu.Sequence) error {
		return ops.Matmul(s, gpu.W(cb), gpu.R(ab), gpu.R(wb), gpu.R(bb), gpu.Arg{}, M, N, K, gpu.EpilogueNone)
	})
}

// BenchmarkMatmulTiles compares matmul_tiled tiles (BM, BN, BK, TM, TN, WG),
// each forced for every shape, on a real GPU: the shipped ones
// (gpu.MatmulTilesForTest) and a few neighbours. On CPU
// drivers the GPU variant is far too slow and the benchmark is skipped.
func BenchmarkMatmulTiles(b *testing.B) {
	d := openOpsBench(b)
	if d.Info().Type == gpu.DeviceCPU {
		b.Skip("matmul_tiled tiles are for GPUs")
	}
	tiles := append([][6]uint32{
		{128, 128, 16, 8, 8, 256}, {64, 64, 32, 8, 8, 64}, {64, 64, 32, 4, 4, 512},
		{16, 64, 32, 4, 4, 256}, {32, 32, 64, 4, 4, 256}, {16, 16, 64, 4, 4, 256},
	}, gpu.MatmulTilesForTest()...)
	for _, t := range tiles {
		ops, err := gpu.NewOpsVariant(d, gpu.VariantTiled)
		require.NoError(b, err)
		ops.SetMatmulTileForTest(t)
		for _, M := range benchMs(d) {
			for _, kn := range deitSmallShapes {
				K, N := kn[0], kn[1]
				a, w, bias := opsRand(1, M*K, -1, 1), opsRand(2, K*N, -1, 1), opsRand(3, N, -1, 1)
				b.Run(fmt.Sprintf("tile%v/M%d_K%d_N%d", t, M, K, N), func(b *testing.B) {
					benchMatmul(b, d, ops, a, w, bias, M, N, K)
				})
			}
		}
	}
}

// BenchmarkAttention measures DeiT-small attention (T = 198, 6 heads of 64)
// with the variant's own tuning for 1 and 8 images (BenchmarkAttentionTiledTiles
// compares attention_tiled tiles).
func BenchmarkAttention(b *testing.B) {
	d := openOpsBench(b)
	const T, H, Dh = 198, 6, 64
	ops, err := gpu.NewOps(d)
	require.NoError(b, err)
	for _, B := range []int{1, 8} {
		b.Run(fmt.Sprintf("B%d", B), func(b *testing.B) {
			qkv := opsBuf(b, d, opsRand(5, B*T*3*H*Dh, -1, 1))
			out := opsBuf(b, d, make([]float32, B*T*H*Dh))
			flops := 4 * float64(B*H) * T * T * Dh
			benchRun(b, d, flops, func(s *gpu.Sequence) error {
				return ops.Attention(s, gpu.W(out), gpu.R(qkv), B, T, H, Dh, 0.125)
			})
		})
	}
}

func opsBuf(b *testing.B, d *gpu.Device, data []float32) *gpu.Buffer {
	b.Helper()
	buf, err := d.NewBuffer(int64(4 * len(data)))
	require.NoError(b, err)
	require.NoError(b, d.Write(buf, 0, data))
	return buf
}
