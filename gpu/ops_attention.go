package gpu

import "fmt"

// attentionSharedCap bounds the shared memory an attention_tiled tile may use
// (or the device's limit when lower): at 32 KiB several workgroups stay
// resident per multiprocessor, which hides their barriers.
const attentionSharedCap = 32 << 10

// tiledAttentionTiles lists the attention_tiled tiles (BQ queries per workgroup,
// KPT keys per invocation per tile) from fastest to smallest; the first whose
// shared memory fits is used. 32 queries × 16 keys (128 invocations) is the
// DeiT (Dh = 64) tile: measured on an H200 at T = 198, 6 heads, it ran 15.6
// TFLOPS for 256 images and 2.7 for one, ahead of 32×32 (12.0, 2.1), 64×32
// (14.8, 1.9), 64×16, 16×32 and 8×32 (bench/RESULTS.md).
var tiledAttentionTiles = [][2]uint32{{32, 1}, {32, 2}, {16, 1}, {8, 1}, {4, 1}}

// attentionGPUShared is the shared memory, in bytes, of an attention_tiled tile;
// it mirrors the shared arrays of shaders/attention_tiled.comp: the Q block, K
// tile, V tile, probabilities and per-lane row maxima, every row but V's
// padded by one vec4 to spread the rows over the banks.
func attentionGPUShared(dh int, bq, kpt uint32) int {
	d4, q, bkv := dh/4, int(bq), 16*int(kpt)
	return 16 * (q*(d4+1) + bkv*(d4+1) + bkv*d4 + q*(bkv/4+1) + q*5)
}

// tiledAttentionTile picks the attention_tiled tile for head size dh: the one
// set by SetAttentionForTest when it is a (BQ, KPT, 4·BQ) triple, else the
// first entry of tiledAttentionTiles within attentionSharedCap, else the first
// within the device's shared memory. ok is false when none fits (very large
// heads on small-memory devices).
func (o *Ops) tiledAttentionTile(dh int) (bq, kpt uint32, ok bool, err error) {
	devMax := o.sharedMax()
	if a := o.attn; a[0] > 0 && a[0]%4 == 0 && a[1] > 0 && a[2] == 4*a[0] {
		if need := attentionGPUShared(dh, a[0], a[1]); need > devMax {
			return 0, 0, false, fmt.Errorf("gpu: attention_tiled tile %v with head size %d needs %d bytes of shared memory, the device has %d",
				a, dh, need, devMax)
		}
		return a[0], a[1], true, nil
	}
	for _, limit := range []int{min(devMax, attentionSharedCap), devMax} {
		for _, t := range tiledAttentionTiles {
			if attentionGPUShared(dh, t[0], t[1]) <= limit {
				return t[0], t[1], true, nil
			}
		}
	}
	return 0, 0, false, nil
}

// attentionFallback is the attention_regblock.comp tuning (queries per invocation,
// invocations, key block) used on a GPU when no attention_tiled tile fits.
var attentionFallback = [3]uint32{1, 64, 8}

// attentionPipeline returns the heuristic's fp32 attention pipeline for
// head size dh and the number of queries one workgroup handles.
func (o *Ops) attentionPipeline(dh int) (*Pipeline, int, error) {
	c, err := o.attentionHeuristic(dh, false)
	if err != nil {
		return nil, 0, err
	}
	return o.attentionPipelineFor(c, dh, false)
}

// attentionHeuristic is the built-in choice for head size dh: cooperative
// matrices for fp16 where they fit (coopAttentionTileFor), else the
// variant's design: attention_tiled with the first tile that fits
// (tiledAttentionTile; attention_regblock with attentionFallback when none
// does), or attention_regblock with the variant's tuning.
func (o *Ops) attentionHeuristic(dh int, half bool) (KernelConfig, error) {
	if half && o.coopmat {
		if t := o.coopAttentionTileFor(); o.coopAttentionFits(dh, t) {
			return KernelConfig{Op: OpAttention, Design: DesignCoopMat, Tile: [6]uint32{t.BQ, t.BKV, t.WG}}, nil
		}
	}
	a := o.attn
	if o.variant == VariantTiled {
		bq, kpt, ok, err := o.tiledAttentionTile(dh)
		if err != nil {
			return KernelConfig{}, err
		}
		if ok {
			return KernelConfig{Op: OpAttention, Design: DesignTiled, Tile: [6]uint32{bq, kpt}}, nil
		}
		a = attentionFallback
	}
	return KernelConfig{Op: OpAttention, Design: DesignRegBlock, Tile: [6]uint32{a[0], a[1], a[2]}}, nil
}

// checkAttentionConfig reports a configuration this device cannot run for
// head size dh on fp16 (half) or fp32 data.
func (o *Ops) checkAttentionConfig(c KernelConfig, dh int, half bool) error {
	t, lim := c.Tile, o.d.info.MaxWorkgroupInvocations
	switch c.Design {
	case DesignRegBlock:
		if t[0] == 0 || t[1] == 0 || t[2] == 0 || (lim != 0 && t[1] > lim) {
			return fmt.Errorf("gpu: attention_regblock: unusable tuning %v", t[:3])
		}
		return nil
	case DesignTiled:
		if t[0] == 0 || t[0]%4 != 0 || t[1] == 0 || (lim != 0 && 4*t[0] > lim) {
			return fmt.Errorf("gpu: attention_tiled: unusable tile %v", t[:2])
		}
		if need := attentionGPUShared(dh, t[0], t[1]); need > o.sharedMax() {
			return fmt.Errorf("gpu: attention_tiled: tile %v with head size %d needs %d bytes of shared memory, the device has %d", t[:2], dh, need, o.sharedMax())
		}
		return nil
	case DesignCoopMat:
		if !half || !o.coopmat || !o.coopAttentionFits(dh, coopAttentionTile{BQ: t[0], BKV: t[1], WG: t[2]}) {
			return fmt.Errorf("gpu: attention_coopmat: tiling %v does not run head size %d here", t[:3], dh)
		}
		return nil
	}
	return fmt.Errorf("gpu: attention: unknown design %q", c.Design)
}

// attentionPipelineFor returns the pipeline running configuration c for
// head size dh (half: the fp16-storage builds) and the number of queries
// one workgroup handles.
func (o *Ops) attentionPipelineFor(c KernelConfig, dh int, half bool) (*Pipeline, int, error) {
	suffix := ""
	if half {
		suffix = "_f16"
	}
	t := c.Tile
	switch c.Design {
	case DesignCoopMat:
		cm := o.cm
		p, err := o.pipeline("attention_coopmat", uint32(dh), cm.M, cm.N, cm.K, t[0], t[1], t[2])
		return p, int(t[0]), err
	case DesignTiled:
		p, err := o.pipeline("attention_tiled"+suffix, uint32(dh), t[0], t[1], 4*t[0])
		return p, int(t[0]), err
	case DesignRegBlock:
		// attention_regblock.comp keeps QB queries' q and o rows in
		// registers: cap QB·dh at 512 floats, or large heads fail to
		// compile on GPUs.
		qb := min(t[0], uint32(max(1, 512/dh)))
		p, err := o.pipeline("attention_regblock"+suffix, uint32(dh), qb, t[1], t[2])
		return p, int(qb * t[1]), err
	}
	return nil, 0, fmt.Errorf("gpu: attention: unknown design %q", c.Design)
}

// Attention records fused scaled-dot-product attention. qkv is the packed
// [B*T, 3*H*Dh] output of the QKV projection (q | k | v, head j at columns
// j*Dh within each part); out [B*T, H*Dh] receives, per batch item and head,
// softmax(Q·Kᵀ·scale)·V with the heads merged. The T×T scores never reach
// global memory (online softmax in registers or shared memory). Dh must be a
// multiple of 4 (at most 256) and both args must start aligned to one vec4
// of their element type (16 bytes for F32, 8 for F16).
//
// qkv and out are both F32 (the fp32 kernels) or both F16: fp16 storage,
// scores, softmax and P·V accumulated in fp32, out rounded once; with
// cooperative matrices (CoopMat) Q·Kᵀ and P·V run on them, P rounded to
// fp16 as their input (attention_coopmat.comp).
func (o *Ops) Attention(s *Sequence, out, qkv Arg, B, T, H, Dh int, scale float32) error {
	const op = "attention"
	// 3 as its own factor: 3*H could wrap for a huge H.
	if err := checkDims(op, B, T, 3, H, Dh); err != nil {
		return err
	}
	if Dh%4 != 0 || Dh > 256 {
		return fmt.Errorf("gpu: %s: head size %d must be a multiple of 4 and at most 256", op, Dh)
	}
	if err := checkType(op, "qkv", qkv, F32, F16); err != nil {
		return err
	}
	if out.Type != qkv.Type {
		return fmt.Errorf("gpu: %s: out is %v but qkv is %v", op, out.Type, qkv.Type)
	}
	half := qkv.Type == F16
	if half {
		if err := o.needFP16(op); err != nil {
			return err
		}
	}
	if al := 4 * qkv.Type.Size(); qkv.Offset%al != 0 || out.Offset%al != 0 {
		return fmt.Errorf("gpu: %s: qkv and out must start %d-byte aligned (offsets %d, %d)", op, al, qkv.Offset, out.Offset)
	}
	if err := checkArg(op, "qkv", qkv, int64(B)*int64(T)*int64(3*H*Dh)); err != nil {
		return err
	}
	if err := checkArg(op, "out", out, int64(B)*int64(T)*int64(H*Dh)); err != nil {
		return err
	}
	cfg, tuned, err := o.attentionConfig(AttentionShape(B, T, H, Dh, qkv.Type))
	if err != nil {
		return err
	}
	p, perGroup, err := o.attentionPipelineFor(cfg, Dh, half)
	if err != nil {
		return err
	}
	kind := " " + cfg.String()
	if tuned {
		kind += " (tuned)"
	}
	if half {
		kind += " f16"
	}
	groups := [3]uint32{uint32(ceilDiv(T, perGroup)), uint32(H), uint32(B)}
	label := fmt.Sprintf("attention B=%d T=%d H=%d Dh=%d%s", B, T, H, Dh, kind)
	return s.Dispatch(label, p, groups, Push(uint32(T), uint32(H), scale), opRead(qkv), opWrite(out))
}
