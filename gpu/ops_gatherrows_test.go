package gpu_test

import (
	"fmt"
	"testing"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestGatherRows(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	type tc struct{ B, T, S, D int }
	// The last case needs more than 65535 workgroups of 256: the grid is split
	// over y.
	for i, c := range []tc{{1, 1, 1, 1}, {2, 198, 2, 384}, {3, 7, 3, 5}, {4, 197, 1, 1000}, {1, 1, 1, 256*65535 + 3}} {
		name := fmt.Sprintf("B%d_T%d_S%d_D%d", c.B, c.T, c.S, c.D)
		t.Run(name, func(t *testing.T) {
			seed := uint64(7000 + i)
			t.Logf("seed %d", seed)
			in := opsRand(seed, c.B*c.T*c.D, -1, 1)
			want := ref.F64(ref.GatherRows(in, c.B, c.T, c.S, c.D))
			ib, out := e.upload(t, in), e.poisoned(t, len(want))
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.GatherRows(s, gpu.W(out), gpu.R(ib), c.B, c.T, c.S, c.D)
			})
			requireOpsExact(t, name, e.download(t, out, len(want)), want)
		})
	}
}
