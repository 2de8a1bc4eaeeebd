package gpu_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestAttention(t *testing.T) {
	// T around the workgroup's query block (CPU: 8 lanes × 8 queries = 64;
	// GPU: 32, or 16 for Dh = 128), the key blocks (CPU 8; GPU tiles of 16
	// keys), DeiT lengths (197/198 at 224², 577/578 at 384²),
	// batch > 1 and several heads. Head sizes: 4 and 12 (fewer vec4s than the
	// GPU kernel's 16 lanes), 16/32 (tiny test models), 64 (DeiT), 68 (a
	// partial second vec4 per lane), 128, and 256 (no GPU tile fits 32 KiB of
	// shared memory: the GPU variant falls back to attention_regblock.comp there).
	cases := []attnCase{
		{1, 1, 1, 4}, {1, 3, 2, 8}, {2, 7, 3, 64}, {1, 31, 1, 64}, {1, 32, 1, 64}, {1, 63, 1, 64},
		{1, 64, 2, 64}, {1, 65, 1, 64}, {3, 17, 2, 32}, {2, 5, 3, 16}, {2, 33, 2, 64}, {1, 20, 2, 12},
		{1, 37, 1, 68}, {1, 15, 1, 128}, {2, 17, 1, 128}, {1, 40, 2, 128}, {1, 9, 1, 256},
		{1, 197, 3, 64}, {2, 198, 2, 64}, {1, 578, 1, 64},
	}
	for _, v := range []gpu.Variant{gpu.VariantRegBlock, gpu.VariantTiled} {
		t.Run(v.String(), func(t *testing.T) {
			e := newOpsEnv(t, v)
			for i, c := range cases {
				// amp 4 makes the scores span several units (peaked softmax).
				for _, amp := range []float64{1, 4} {
					checkAttention(t, e, c, uint64(2000+10*i+int(amp)), amp)
				}
			}
		})
	}
}

// TestAttentionTiledTiles runs attention_tiled with tiles other than the default
// (BQ queries per workgroup, KPT keys per invocation, 4·BQ invocations), so
// every specialization path of the shader is checked: one or two key-tile
// loads per invocation, 8 to 64 queries per workgroup.
func TestAttentionTiledTiles(t *testing.T) {
	tiles := [][3]uint32{{8, 1, 32}, {16, 2, 64}, {64, 1, 256}, {4, 3, 16}}
	cases := []attnCase{{1, 5, 2, 16}, {2, 33, 1, 32}, {1, 70, 1, 32}, {1, 49, 1, 36}}
	t.Run("too large", func(t *testing.T) {
		e := newOpsEnv(t, gpu.VariantTiled)
		e.ops.SetAttentionForTest([3]uint32{64, 4, 256})
		b := e.upload(t, make([]float32, 3*256))
		s, err := e.d.NewSequence(false)
		require.NoError(t, err)
		defer s.Close()
		require.ErrorContains(t, e.ops.Attention(s, gpu.W(b), gpu.R(b), 1, 1, 1, 256, 1), "bytes of shared memory")
	})
	for _, tile := range tiles {
		t.Run(fmt.Sprintf("tile%v", tile), func(t *testing.T) {
			e := newOpsEnv(t, gpu.VariantTiled)
			e.ops.SetAttentionForTest(tile)
			for i, c := range cases {
				checkAttention(t, e, c, uint64(3000+10*i), 4)
			}
		})
	}
}

// attnCase is one attention shape.
type attnCase struct{ B, T, H, Dh int }

// checkAttention runs Ops.Attention on random packed QKV in [−amp, amp] into
// a NaN-poisoned output and compares it with the float64 twin.
func checkAttention(t *testing.T, e *opsEnv, c attnCase, seed uint64, amp float64) {
	t.Helper()
	name := fmt.Sprintf("B%d_T%d_H%d_Dh%d_amp%g", c.B, c.T, c.H, c.Dh, amp)
	t.Run(name, func(t *testing.T) {
		t.Logf("seed %d", seed)
		qkv := opsRand(seed, c.B*c.T*3*c.H*c.Dh, -amp, amp)
		scale := 1 / math.Sqrt(float64(c.Dh))
		in := e.upload(t, qkv)
		n := c.B * c.T * c.H * c.Dh
		out := e.poisoned(t, n)
		e.run(t, func(s *gpu.Sequence) error {
			return e.ops.Attention(s, gpu.W(out), gpu.R(in), c.B, c.T, c.H, c.Dh, float32(scale))
		})
		want := ref.Attention(qkv, qkv[c.H*c.Dh:], qkv[2*c.H*c.Dh:], 3*c.H*c.Dh, c.B, c.T, c.H, c.Dh, scale)
		requireOpsClose(t, name, e.download(t, out, n), want, attentionBound(c.Dh, c.T, amp))
	})
}

// attentionBound is the fp32 attention parity bound (gpu/tune_bounds.go).
func attentionBound(Dh, T int, amp float64) float64 { return gpu.AttentionBoundForTest(Dh, T, amp) }

func TestAttentionRejectsBadArgs(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	b := e.upload(t, make([]float32, 3*2*64))
	s, err := e.d.NewSequence(false)
	require.NoError(t, err)
	defer s.Close()
	require.ErrorContains(t, e.ops.Attention(s, gpu.W(b), gpu.R(b), 1, 2, 1, 6, 1), "multiple of 4")
	require.ErrorContains(t, e.ops.Attention(s, gpu.W(b), gpu.R(b), 1, 0, 1, 64, 1), "positive")
	require.ErrorContains(t, e.ops.Attention(s, gpu.W(b), gpu.R(b), 2, 2, 1, 64, 1), "qkv holds")
	// 3·H wraps to 2 in int arithmetic: the size checks must still see H.
	require.ErrorContains(t, e.ops.Attention(s, gpu.W(b), gpu.R(b), 1, 1, math.MaxUint64/3+1, 4, 1), "32-bit indexing")
}

// BenchmarkAttentionTiledTiles compares attention_tiled tiles (BQ queries per
// workgroup, KPT keys per invocation, 4·BQ invocations; zero = the default
// choice) at DeiT-small's shape (T = 198, 6 heads of 64) for 1, 8 and 256
// images. Metric: GFLOPS, counting 4·B·H·T²·Dh per op. Real GPUs only: on
// CPU drivers the shared-memory kernel is far too slow to be worth timing.
func BenchmarkAttentionTiledTiles(b *testing.B) {
	d := openOpsBench(b)
	if d.Info().Type == gpu.DeviceCPU {
		b.Skip("attention_tiled tiles are for GPUs")
	}
	tiles := [][3]uint32{{}, {16, 2, 64}, {32, 1, 128}, {64, 1, 256}, {64, 2, 256}, {8, 2, 32}}
	const T, H, Dh = 198, 6, 64
	for _, B := range []int{1, 8, 256} {
		qkv := opsBuf(b, d, opsRand(5, B*T*3*H*Dh, -1, 1))
		out := opsBuf(b, d, make([]float32, B*T*H*Dh))
		flops := 4 * float64(B*H) * T * T * Dh
		for _, tile := range tiles {
			ops, err := gpu.NewOpsVariant(d, gpu.VariantTiled)
			require.NoError(b, err)
			name := "default"
			if tile[0] != 0 {
				ops.SetAttentionForTest(tile)
				name = fmt.Sprintf("tile%v", tile)
			}
			b.Run(fmt.Sprintf("B%d/%s", B, name), func(b *testing.B) {
				benchRun(b, d, flops, func(s *gpu.Sequence) error {
					return ops.Attention(s, gpu.W(out), gpu.R(qkv), B, T, H, Dh, 0.125)
				})
			})
		}
	}
}
