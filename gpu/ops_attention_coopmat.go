package gpu

// coopAttentionTile is the attention_coopmat tiling (spec constants 4–6):
// BQ queries per workgroup, BKV keys per tile, WG invocations.
type coopAttentionTile struct{ BQ, BKV, WG uint32 }

// coopAttentionTileFor derives the tiling from the coopmat shape: two
// accumulator rows of queries (32 on a 16-row shape), two accumulator
// columns of keys, four subgroups. (Forced by SetCoopAttentionForTest.)
func (o *Ops) coopAttentionTileFor() coopAttentionTile {
	if o.cmAttn != (coopAttentionTile{}) {
		return o.cmAttn
	}
	cm := o.cm
	return coopAttentionTile{BQ: 2 * cm.M, BKV: 2 * max(cm.N, cm.K), WG: 4 * max(o.d.info.SubgroupSize, 1)}
}

// coopAttentionShared is the shared memory, in bytes, of an attention_coopmat
// tile for head size dh; it mirrors shaders/attention_coopmat.comp: Q, K, V
// (fp16, rows padded by 8), scores (fp32, +4), probabilities (fp16, +8),
// the output accumulator (fp32, +4), per-row max and sum, and the softmax
// lanes' partial results (LPR = WG/BQ lanes per row).
func coopAttentionShared(dh int, t coopAttentionTile) int {
	bq, bkv := int(t.BQ), int(t.BKV)
	lpr := max(1, int(t.WG)/bq)
	return 2*bq*(dh+8) + 4*bkv*(dh+8) + 4*bq*(bkv+4) + 2*bq*(bkv+8) + 4*bq*(dh+4) + 8*bq + 4*bq*lpr
}

// coopAttentionFits reports whether attention_coopmat runs head size dh
// with tiling t on this device: dh a multiple of the shape's N and K, BQ
// and BKV multiples of the shape, WG a multiple of the subgroup size, the
// tile within attentionSharedCap (or the device's limit when lower) and the
// invocation limit. Otherwise the fp16 attention falls back to
// attention_tiled_f16.
func (o *Ops) coopAttentionFits(dh int, t coopAttentionTile) bool {
	cm := o.cm
	if cm.M == 0 || cm.N == 0 || cm.K == 0 || t.BQ == 0 || t.BKV == 0 || t.WG == 0 {
		return false
	}
	if dh%int(cm.N) != 0 || dh%int(cm.K) != 0 || dh%4 != 0 || t.BQ%cm.M != 0 || t.BKV%cm.N != 0 || t.BKV%cm.K != 0 {
		return false
	}
	if t.WG%max(o.d.info.SubgroupSize, 1) != 0 {
		return false
	}
	if lim := o.d.info.MaxWorkgroupInvocations; lim != 0 && t.WG > lim {
		return false
	}
	return coopAttentionShared(dh, t) <= min(o.sharedMax(), attentionSharedCap)
}
