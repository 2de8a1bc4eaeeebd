package gpu_test

import (
	"fmt"
	"testing"

	"github.com/vkdeit/vkdeit/gpu"
)

// coopAccFactor widens the fp32 accumulation bound for cooperative
// matrices (gpu/tune_bounds.go).
const coopAccFactor = gpu.CoopAccFactorForTest

// TestMatmulCoopMat runs matmul_coopmat (fp16 A, W; fp32 accumulators; the
// device's coopmat shape) on every fp16 case, C fp16 and fp32, then forces
// tilings with several accumulators and subgroups per workgroup.
func TestMatmulCoopMat(t *testing.T) {
	e := newOpsEnv(t, gpu.VariantAuto)
	requireCoopMat(t, e.d)
	cm, on := e.ops.CoopMat()
	if !on {
		t.Fatalf("device offers cooperative matrices but Ops does not use them")
	}
	t.Logf("coopmat shape %v", cm)
	for i, c := range f16Cases() {
		out := gpu.F16
		if i%2 == 0 {
			out = gpu.F32
		}
		e.checkMatmulCoopMat(t, c, out, uint64(9000+i))
	}
	sub := e.d.Info().SubgroupSize
	for _, tile := range [][6]uint32{
		{2, 2, 2, 2, 2 * cm.K, 4 * sub}, // 4 subgroups × 2×2 accumulators, two k steps per stage
		{1, 2, 3, 1, cm.K * ((4 + cm.K - 1) / cm.K), 2 * sub},
		{2, 1, 1, 2, 4 * cm.K, 3 * sub}, // a third subgroup that only stages tiles
	} {
		t.Run(fmt.Sprintf("tile%v", tile), func(t *testing.T) {
			e.ops.SetCoopMatmulTileForTest(tile)
			defer e.ops.SetCoopMatmulTileForTest([6]uint32{})
			bm, bn := int(tile[0]*tile[2]*cm.M), int(tile[1]*tile[3]*cm.N)
			for i, c := range []matmulCase{
				{bm + 3, bn + 5, 2*int(tile[4]) + 3, true, gpu.EpilogueGELU},
				{2*bm - 1, bn + 4, 3 * int(tile[4]), true, gpu.EpilogueResidual},
				{1, 2*bn + 1, int(tile[4]) + 1, false, gpu.EpilogueNone},
			} {
				e.checkMatmulCoopMat(t, c, gpu.F16, uint64(9500+i))
			}
		})
	}
}

func (e *opsEnv) checkMatmulCoopMat(t *testing.T, c matmulCase, out gpu.DType, seed uint64) {
	e.checkMatmulF16(t, c, out, seed, coopAccFactor)
}
