package gpu_test

import (
	"fmt"
	"testing"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestPatchify(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	type tc struct{ B, C, H, W, P int }
	for i, c := range []tc{{1, 1, 1, 1, 1}, {1, 3, 7, 5, 2}, {2, 3, 32, 48, 16}, {1, 3, 224, 224, 16}, {3, 2, 17, 19, 4}} {
		name := fmt.Sprintf("B%d_C%d_%dx%d_P%d", c.B, c.C, c.H, c.W, c.P)
		t.Run(name, func(t *testing.T) {
			seed := uint64(5000 + i)
			t.Logf("seed %d", seed)
			pix := opsRand(seed, c.B*c.C*c.H*c.W, -2, 2)
			want := ref.F64(ref.Patchify(pix, c.B, c.C, c.H, c.W, c.P))
			in, out := e.upload(t, pix), e.poisoned(t, len(want))
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.Patchify(s, gpu.W(out), gpu.R(in), c.B, c.C, c.H, c.W, c.P)
			})
			requireOpsExact(t, name, e.download(t, out, len(want)), want)
		})
	}
}

// TestPatchifyF16 runs patchify_f16 (fp32 pixels, fp16 patches): every
// element must be exactly the pixel rounded to fp16.
func TestPatchifyF16(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	requireFP16(t, e.d)
	type tc struct{ B, C, H, W, P int }
	for i, c := range []tc{{1, 1, 1, 1, 1}, {2, 3, 32, 48, 16}, {3, 2, 17, 19, 4}} {
		name := fmt.Sprintf("B%d_C%d_%dx%d_P%d", c.B, c.C, c.H, c.W, c.P)
		t.Run(name, func(t *testing.T) {
			pix := opsRand(uint64(13000+i), c.B*c.C*c.H*c.W, -2, 2)
			want := ref.F64(halves(ref.Patchify(pix, c.B, c.C, c.H, c.W, c.P)))
			in, out := e.upload(t, pix), e.poisonedTyped(t, len(want), gpu.F16)
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.Patchify(s, gpu.W(out).As(gpu.F16), gpu.R(in), c.B, c.C, c.H, c.W, c.P)
			})
			requireOpsExact(t, name, e.downloadTyped(t, out, len(want), gpu.F16), want)
		})
	}
}
