package gpu

// The candidate configurations of each shape. The heuristic's choice comes
// first (it is the starting order and the comparison), then every variant
// the shaders take, pruned before anything is built: tiles that need more
// shared memory or invocations than the device has, and tiles that waste
// more than half their work on padding when a tile with less waste exists
// (tileWasteLimit: a 64-row tile on an 8-row head product).

// tuneMatmulTiles are the matmul_tiled tiles (BM, BN, BK, TM, TN, WG) the
// tuner tries beyond the shipped ones (tiledMatmulTiles): other block
// shapes, 128-invocation and 64-invocation workgroups, and more or fewer K
// slices (split-K inside the workgroup: WG/((BM/TM)·(BN/TN)) slices).
var tuneMatmulTiles = [][6]uint32{
	{64, 32, 32, 4, 4, 128},
	{32, 64, 32, 4, 4, 128},
	{32, 64, 32, 4, 4, 256}, // 2 K slices
	{32, 32, 16, 4, 4, 64},
	{16, 64, 32, 4, 4, 64},
	{64, 64, 32, 4, 4, 256},
	{128, 64, 16, 8, 4, 256},
	{64, 128, 16, 4, 8, 256},
	{128, 128, 16, 8, 8, 256},
}

// tileWasteLimit: a tile whose padded grid does more than this times the
// useful work is pruned, unless no candidate does less.
const tileWasteLimit = 2.0

// waste is the padded work of bm×bn blocks over an M×N output.
func waste(M, N, bm, bn int) float64 {
	return float64(ceilDiv(M, bm)*bm) * float64(ceilDiv(N, bn)*bn) / (float64(M) * float64(N))
}

// candidates enumerates s's configurations on this device, the heuristic's
// first, and counts those pruned.
func (o *Ops) candidates(s Shape) ([]KernelConfig, int, error) {
	var cands []KernelConfig
	var pruned int
	var err error
	if s.Op == OpAttention {
		cands, pruned, err = o.attentionCandidates(s)
	} else {
		cands, pruned, err = o.matmulCandidates(s)
	}
	if err != nil {
		return nil, 0, err
	}
	return interleave(cands), pruned, nil
}

// interleave keeps cands[0] (the heuristic's) first and deals the others
// out one design at a time, each design's own order kept, so that a
// MaxCandidates bound still tries every design.
func interleave(cands []KernelConfig) []KernelConfig {
	var designs []Design
	by := map[Design][]KernelConfig{}
	for _, c := range cands[1:] {
		if by[c.Design] == nil {
			designs = append(designs, c.Design)
		}
		by[c.Design] = append(by[c.Design], c)
	}
	out := cands[:1:1]
	for len(out) < len(cands) {
		for _, d := range designs {
			if q := by[d]; len(q) > 0 {
				out, by[d] = append(out, q[0]), q[1:]
			}
		}
	}
	return out
}

// pruneWaste keeps, of the candidates after the first, those within
// tileWasteLimit, or those with the least waste when none is; waste
// returns a candidate's padding factor.
func pruneWaste(cands []KernelConfig, w func(KernelConfig) float64) ([]KernelConfig, int) {
	least := 0.0
	for i, c := range cands[1:] {
		if x := w(c); i == 0 || x < least {
			least = x
		}
	}
	limit := max(tileWasteLimit, least)
	out := cands[:1]
	for _, c := range cands[1:] {
		if w(c) <= limit {
			out = append(out, c)
		}
	}
	return out, len(cands) - len(out)
}

// addUnique appends c unless cands has it; usable filters it first.
func addUnique(cands []KernelConfig, c KernelConfig, usable bool, pruned *int) []KernelConfig {
	for _, x := range cands {
		if x == c {
			return cands
		}
	}
	if !usable {
		*pruned++
		return cands
	}
	return append(cands, c)
}

func (o *Ops) matmulCandidates(s Shape) ([]KernelConfig, int, error) {
	half := s.In == F16
	h, err := o.matmulHeuristic(s.M, s.N, half)
	if err != nil {
		return nil, 0, err
	}
	cands, pruned := []KernelConfig{h}, 0
	add := func(c KernelConfig) { cands = addUnique(cands, c, o.checkMatmulConfig(c, half) == nil, &pruned) }
	if half && o.coopmat {
		cm, sub := o.cm, max(o.d.info.SubgroupSize, 1)
		for _, sg := range [][2]uint32{{2, 2}, {1, 1}, {2, 1}, {1, 2}, {4, 2}, {2, 4}} {
			for _, acc := range [][2]uint32{{2, 2}, {1, 1}, {2, 1}, {1, 2}, {4, 2}, {2, 4}, {4, 4}} {
				for _, bk := range []uint32{32, 64} {
					k := max(cm.K, bk/cm.K*cm.K)
					for k%4 != 0 {
						k += cm.K
					}
					add(KernelConfig{Op: OpMatmul, Design: DesignCoopMat,
						Tile: [6]uint32{sg[0], sg[1], acc[0] * max(1, 16/cm.M), acc[1] * max(1, 16/cm.N), k, sg[0] * sg[1] * sub}})
				}
			}
		}
	}
	for _, t := range append(tiledMatmulTiles[:], tuneMatmulTiles...) {
		add(KernelConfig{Op: OpMatmul, Design: DesignTiled, Tile: t})
	}
	add(KernelConfig{Op: OpMatmul, Design: DesignRegBlock})
	cands, n := pruneWaste(cands, func(c KernelConfig) float64 {
		switch c.Design {
		case DesignTiled:
			return waste(s.M, s.N, int(c.Tile[0]), int(c.Tile[1]))
		case DesignCoopMat:
			t := coopTileOf(c.Tile)
			return waste(s.M, s.N, t.blockM(o.cm), t.blockN(o.cm))
		}
		return waste(s.M, s.N, 8, 64)
	})
	return cands, pruned + n, nil
}

func (o *Ops) attentionCandidates(s Shape) ([]KernelConfig, int, error) {
	half, dh := s.In == F16, s.Dh
	h, err := o.attentionHeuristic(dh, half)
	if err != nil {
		return nil, 0, err
	}
	cands, pruned := []KernelConfig{h}, 0
	add := func(c KernelConfig) { cands = addUnique(cands, c, o.checkAttentionConfig(c, dh, half) == nil, &pruned) }
	if half && o.coopmat {
		cm, sub := o.cm, max(o.d.info.SubgroupSize, 1)
		kv := max(cm.N, cm.K)
		for _, bq := range []uint32{2, 1, 4} {
			for _, bkv := range []uint32{2, 1, 4} {
				for _, wg := range []uint32{4, 2, 1} {
					add(KernelConfig{Op: OpAttention, Design: DesignCoopMat, Tile: [6]uint32{bq * cm.M, bkv * kv, wg * sub}})
				}
			}
		}
	}
	for _, bq := range []uint32{32, 16, 64, 8, 4} {
		for _, kpt := range []uint32{1, 2, 4} {
			add(KernelConfig{Op: OpAttention, Design: DesignTiled, Tile: [6]uint32{bq, kpt}})
		}
	}
	qbMax := uint32(max(1, 512/dh))
	for _, qb := range []uint32{8, 4, 2, 1} {
		for _, lanes := range []uint32{8, 16, 32, 64} {
			for _, kb := range []uint32{8, 16} {
				if qb > qbMax {
					pruned++ // the shader's register cap would make it another candidate
					continue
				}
				add(KernelConfig{Op: OpAttention, Design: DesignRegBlock, Tile: [6]uint32{qb, lanes, kb}})
			}
		}
	}
	cands, n := pruneWaste(cands, func(c KernelConfig) float64 {
		per := c.Tile[0] // tiled, coopmat: BQ queries per workgroup
		if c.Design == DesignRegBlock {
			per = min(c.Tile[0], qbMax) * c.Tile[1]
		}
		return waste(s.T, 1, int(per), 1)
	})
	return cands, pruned + n, nil
}
