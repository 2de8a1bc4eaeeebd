package gpu

// Test-only access to kernel tunings, so benchmarks can compare tile sizes
// without widening the public API.

// SetMatmulTileForTest forces one matmul_tiled tile (BM, BN, BK, TM, TN, WG)
// for every shape, replacing the per-shape choice; the zero tile restores it.
func (o *Ops) SetMatmulTileForTest(t [6]uint32) { o.forcedTile = t }

// MatmulTilesForTest lists every matmul_tiled tile VariantTiled ships.
func MatmulTilesForTest() [][6]uint32 { return tiledMatmulTiles[:] }

// SetAttentionForTest replaces the attention spec constants after DH
// (VariantRegBlock: QB, LANES, KB; VariantTiled: a (BQ, KPT, 4·BQ) tile).
func (o *Ops) SetAttentionForTest(a [3]uint32) { o.attn = a }

// SetCoopMatForTest turns the cooperative-matrix kernels off (or back on,
// where the device has them), so both fp16 paths run on a coopmat device.
func (o *Ops) SetCoopMatForTest(on bool) { o.coopmat = on && o.d.info.CoopMat }

// SetCoopMatmulTileForTest forces a matmul_coopmat tiling (SGM, SGN, RM, RN,
// BK, WG); the zero value restores the per-shape choice.
func (o *Ops) SetCoopMatmulTileForTest(t [6]uint32) {
	o.cmTile = coopMatmulTile{SGM: t[0], SGN: t[1], RM: t[2], RN: t[3], BK: t[4], WG: t[5]}
}

// SetCoopAttentionForTest forces an attention_coopmat tiling (BQ, BKV, WG).
func (o *Ops) SetCoopAttentionForTest(t [3]uint32) {
	o.cmAttn = coopAttentionTile{BQ: t[0], BKV: t[1], WG: t[2]}
}

// MatmulBoundForTest and AttentionBoundForTest are the tuner's parity
// bounds (tune_bounds.go), shared with the kernel tests.
func MatmulBoundForTest(K int) float64 { return matmulBound(K) }

// AttentionBoundForTest: see MatmulBoundForTest.
func AttentionBoundForTest(Dh, T int, amp float64) float64 { return attentionBound(Dh, T, amp) }

// CoopAccFactorForTest is the cooperative-matrix widening of the matmul bound.
const CoopAccFactorForTest = coopAccFactor
