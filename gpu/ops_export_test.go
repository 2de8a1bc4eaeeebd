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
