package gpu_test

import (
	"fmt"
	"testing"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/ref"
)

func TestTokens(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	type tc struct{ B, T, S, D int }
	for i, c := range []tc{{1, 1, 0, 1}, {1, 2, 1, 3}, {2, 198, 2, 384}, {3, 197, 1, 7}, {1, 5, 0, 4}} {
		name := fmt.Sprintf("B%d_T%d_S%d_D%d", c.B, c.T, c.S, c.D)
		t.Run(name, func(t *testing.T) {
			seed := uint64(6000 + 10*i)
			t.Logf("seed %d", seed)
			patches := opsRand(seed, c.B*(c.T-c.S)*c.D, -1, 1)
			special := opsRand(seed+1, c.S*c.D, -1, 1)
			pos := opsRand(seed+2, c.T*c.D, -1, 1)
			want := ref.F64(ref.Tokens(patches, special, pos, c.B, c.T, c.S, c.D))
			sp := gpu.Arg{}
			if c.S > 0 {
				sp = gpu.R(e.upload(t, special))
			}
			pb, posb, out := e.upload(t, patches), e.upload(t, pos), e.poisoned(t, len(want))
			e.run(t, func(s *gpu.Sequence) error {
				return e.ops.Tokens(s, gpu.W(out), gpu.R(pb), sp, gpu.R(posb), c.B, c.T, c.S, c.D)
			})
			requireOpsExact(t, name, e.download(t, out, len(want)), want)
		})
	}
}
