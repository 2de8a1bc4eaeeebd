package gpu

import "fmt"

// pickCoopMat chooses the cooperative-matrix shape of the fp16 kernels among
// the device's fp16×fp16→fp32 subgroup shapes: the largest M·N·K (fewest
// loads per multiply-add; 16×16×16 on NVIDIA), the driver's order breaking
// ties. The shapes come from the driver, never from a table: lavapipe
// offers only 8×8×8.
func pickCoopMat(shapes []CoopMatShape) (CoopMatShape, bool) {
	var best CoopMatShape
	ok := false
	for _, s := range shapes {
		if s.M == 0 || s.N == 0 || s.K == 0 || s.M > 64 || s.N > 64 || s.K > 64 {
			continue
		}
		if !ok || s.M*s.N*s.K > best.M*best.N*best.K {
			best, ok = s, true
		}
	}
	return best, ok
}

// coopMatmulTile is a matmul_coopmat workgroup tiling (spec constants 4–9):
// SGM×SGN subgroups, each holding RM×RN accumulators of the coopmat shape,
// BK k per shared-memory step, WG invocations.
type coopMatmulTile struct{ SGM, SGN, RM, RN, BK, WG uint32 }

func (t coopMatmulTile) blockM(cm CoopMatShape) int { return int(t.SGM * t.RM * cm.M) }
func (t coopMatmulTile) blockN(cm CoopMatShape) int { return int(t.SGN * t.RN * cm.N) }

// coopMatmulShared is the shared memory, in bytes, of a matmul_coopmat
// tile; it mirrors shaders/matmul_coopmat.comp: fp16 A and W stages with
// rows padded by 8 halves, the fp32 C stage padded by 4 floats.
func coopMatmulShared(cm CoopMatShape, t coopMatmulTile) int {
	bm, bn, bk := t.blockM(cm), t.blockN(cm), int(t.BK)
	return 2*bm*(bk+8) + 2*bk*(bn+8) + 4*bm*(bn+4)
}

// coopMatmulTile picks the tiling for an M×N product: 2×2 subgroups, each
// aiming at a 32×32 block of C, and BK = 32 (rounded to the shape); blocks
// shrink (down to one accumulator per subgroup) while the grid has fewer
// than matmulTargetGroups workgroups, so a single image's M = 198 still
// spreads over the GPU, and while the tile exceeds the device's shared
// memory.
func (o *Ops) coopMatmulTile(M, N int) (coopMatmulTile, error) {
	cm, info := o.cm, o.d.info
	if o.cmTile != (coopMatmulTile{}) {
		return o.cmTile, nil
	}
	sub := max(info.SubgroupSize, 1)
	t := coopMatmulTile{SGM: 2, SGN: 2, RM: max(1, 32/cm.M), RN: max(1, 32/cm.N), BK: cm.K * max(1, 32/cm.K), WG: 4 * sub}
	for t.BK%4 != 0 {
		t.BK += cm.K
	}
	devMax := o.sharedMax()
	groups := func() int { return ceilDiv(M, t.blockM(cm)) * ceilDiv(N, t.blockN(cm)) }
	for (groups() < matmulTargetGroups || coopMatmulShared(cm, t) > devMax) && (t.RM > 1 || t.RN > 1) {
		if t.RM >= t.RN {
			t.RM /= 2
		} else {
			t.RN /= 2
		}
	}
	return t, o.checkCoopMatmulTile(t)
}

// coopTileOf is the coopMatmulTile a KernelConfig's Tile holds.
func coopTileOf(t [6]uint32) coopMatmulTile {
	return coopMatmulTile{SGM: t[0], SGN: t[1], RM: t[2], RN: t[3], BK: t[4], WG: t[5]}
}

// sharedMax is the device's shared memory per workgroup (the Vulkan
// minimum, 16 KiB, when it does not say).
func (o *Ops) sharedMax() int {
	if m := int(o.d.info.MaxSharedMemory); m > 0 {
		return m
	}
	return 16 << 10
}

// checkCoopMatmulTile reports a matmul_coopmat tiling this device cannot
// run: a zero count, BK not a multiple of the shape's K and of 4, WG not
// SGM·SGN subgroups, too much shared memory or too many invocations.
func (o *Ops) checkCoopMatmulTile(t coopMatmulTile) error {
	cm, info := o.cm, o.d.info
	sub := max(info.SubgroupSize, 1)
	if t.SGM == 0 || t.SGN == 0 || t.RM == 0 || t.RN == 0 || t.BK == 0 || t.BK%cm.K != 0 || t.BK%4 != 0 || t.WG != t.SGM*t.SGN*sub {
		return fmt.Errorf("gpu: matmul_coopmat: unusable tiling %+v for shape %v, subgroup size %d", t, cm, sub)
	}
	if need, devMax := coopMatmulShared(cm, t), o.sharedMax(); need > devMax {
		return fmt.Errorf("gpu: matmul_coopmat: the %v tile needs %d bytes of shared memory, %s has %d", cm, need, info.Name, devMax)
	}
	if lim := info.MaxWorkgroupInvocations; lim != 0 && t.WG > lim {
		return fmt.Errorf("gpu: matmul_coopmat: %d invocations per workgroup, %s allows %d", t.WG, info.Name, lim)
	}
	return nil
}

// coopMatmulPipeline returns the matmul_coopmat pipeline for an epilogue,
// the vec4 path (aligned), C's type (out16) and a tiling.
func (o *Ops) coopMatmulPipeline(ep Epilogue, aligned, out16 bool, t coopMatmulTile) (*Pipeline, error) {
	cm := o.cm
	return o.pipeline("matmul_coopmat", uint32(ep), cm.M, cm.N, cm.K, t.SGM, t.SGN, t.RM, t.RN, t.BK, t.WG,
		b2u(aligned), b2u(out16))
}
