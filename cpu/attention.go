package cpu

import (
	"fmt"
	"math"
	"unsafe"
)

// Attention is fused multi-head scaled-dot-product attention over B
// sequences of T tokens: for image b, head h and query t,
//
//	out[b·T+t, h·Dh:(h+1)·Dh] = Σ_u softmax_u(scale·q·k_u) · v_u
//
// with the maximum subtracted before exp. qkv is the fused projection
// [B·T, 3·H·Dh]: row b·T+t holds q | k | v, head h at columns h·Dh of each
// part (what one Gemm with Q, K and V weights stacked produces); out is
// [B·T, H·Dh] and must not overlap qkv.
//
// Per (image, head, chunk of queries) one worker packs K and V into its
// scratch as Gemm panels, then for each block of queries computes the
// scores Q·Kᵀ with the Gemm micro-kernel into a [block, T] buffer that stays
// in L1/L2, takes the softmax in place (vectorized exp, float32), and
// multiplies by V straight into out. The T×T matrix never exists whole.
// When there are fewer (image, head) pairs than four per worker (a small
// batch), K and V are packed once per pair first, and the pairs' query
// blocks are spread over the workers, so both threads stay busy at batch 1.
func (k *Kernels) Attention(out, qkv []float32, B, T, H, Dh int, scale float32) error {
	return k.attention(out, qkv, B, T, H, Dh, scale, false)
}

// AttentionBF16 is Attention with both products in bf16, as the bf16
// precision runs them: Q, K, the probabilities P and V rounded to bf16
// (ToBF16), the products accumulated in float32 by the kernels' bf16 unit;
// the scores, the softmax and the output stay float32.
func (k *Kernels) AttentionBF16(out, qkv []float32, B, T, H, Dh int, scale float32) error {
	return k.attention(out, qkv, B, T, H, Dh, scale, true)
}

func (k *Kernels) attention(out, qkv []float32, B, T, H, Dh int, scale float32, bf16 bool) error {
	return k.attend(out, qkv, B, T, H, Dh, scale, bf16, false)
}

// attend checks the arguments of Attention (out [B·T, H·Dh]) or, with
// probs, AttentionProbs (out [B, H, T, T], the probabilities P themselves,
// float32) and runs the job on the workers; errors name the kernel.
func (k *Kernels) attend(out, qkv []float32, B, T, H, Dh int, scale float32, bf16, probs bool) error {
	what, outLen, outShape := "attention", B*T*H*Dh, "B·T·H·Dh"
	if probs {
		what, outShape = "attention probabilities", "B·H·T·T"
	}
	switch {
	case B < 0 || T < 1 || H < 1 || Dh < 1 || B > maxDim/T || H > maxDim/Dh || B*T > maxDim/(3*H*Dh) || probs && B*H > maxDim/T/T:
		return fmt.Errorf("cpu: %s: B=%d T=%d H=%d Dh=%d out of range", what, B, T, H, Dh)
	case len(qkv) < B*T*3*H*Dh:
		return fmt.Errorf("cpu: %s: qkv has %d values, want B·T·3·H·Dh = %d", what, len(qkv), B*T*3*H*Dh)
	}
	if probs {
		outLen = B * H * T * T
	}
	switch {
	case len(out) < outLen:
		return fmt.Errorf("cpu: %s: out has %d values, want %s = %d", what, len(out), outShape, outLen)
	case !(scale > 0) || math.IsInf(float64(scale), 0):
		return fmt.Errorf("cpu: %s: scale %g must be positive and finite", what, scale)
	}
	if B == 0 {
		return nil
	}
	qkv, out = qkv[:B*T*3*H*Dh], out[:outLen]
	if overlaps(qkv, out) {
		return fmt.Errorf("cpu: %s: out overlaps qkv", what)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errClosed
	}
	k.reserveAttention(T, Dh)
	j := &k.attn
	mr := k.mr
	if bf16 {
		mr = k.mrBF16
	}
	bq := 4 * mr
	*j = attentionJob{k: k, out: out, qkv: qkv, T: T, H: H, Dh: Dh, scale: scale, bf16: bf16, probs: probs, mr: mr, bq: bq, chunks: 1, chunkBlocks: ceilDiv(T, bq)}
	j.kl, j.vl = attentionPacked(T, Dh, bf16)
	workers := k.pool.workers
	if pairs := B * H; workers > 1 && pairs < 4*workers {
		// Few pairs: pack each once, then 8 items per worker.
		k.attnKV = grow(k.attnKV, pairs*(j.kl+j.vl))
		j.shared = k.attnKV
		k.pool.do(pairs, (*attentionPackJob)(j))
		j.chunks = min(ceilDiv(8*workers, pairs), ceilDiv(T, bq))
		j.chunkBlocks = ceilDiv(ceilDiv(T, bq), j.chunks)
	}
	k.pool.do(B*H*j.chunks, j)
	*j = attentionJob{}
	return nil
}

// attentionPacked is the size of a head's packed Kᵀ and V.
func attentionPacked(T, Dh int, bf16 bool) (kl, vl int) {
	if bf16 {
		return packedLen(bf16Pairs(Dh), T), packedLen(bf16Pairs(T), Dh)
	}
	return packedLen(Dh, T), packedLen(T, Dh)
}

// ReserveAttention grows every worker's attention scratch to sequences of T
// tokens with head size Dh now, so that later Attention calls up to that
// size allocate nothing.
func (k *Kernels) ReserveAttention(T, Dh int) error {
	if T < 1 || Dh < 1 || T > 1<<20 || Dh > 1<<20 {
		return fmt.Errorf("cpu: attention: T=%d Dh=%d out of range", T, Dh)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reserveAttention(T, Dh)
	if w := k.pool.workers; w > 1 {
		kl, vl := attentionPacked(T, Dh, false)
		bl, bv := attentionPacked(T, Dh, true)
		k.attnKV = grow(k.attnKV, (4*w-1)*max(kl+vl, bl+bv))
	}
	return nil
}

// attentionScratch is one worker's packed K and V of the current head, its
// block of scores, and (bf16) the block's Q and P rounded to pairs.
type attentionScratch struct {
	kp, vp, s, q, p, tmp []float32
}

func (k *Kernels) reserveAttention(T, Dh int) {
	tp := ceilDiv(T, nr) * nr
	kl, vl := attentionPacked(T, Dh, false)
	bl, bv := attentionPacked(T, Dh, true)
	for i := range k.scratch {
		a := &k.scratch[i].att
		a.kp = grow(a.kp, max(kl, bl))
		a.vp = grow(a.vp, max(vl, bv))
		a.s = grow(a.s, 4*mrMax*tp)
		a.q = grow(a.q, 4*mrMax*bf16Pairs(Dh))
		a.p = grow(a.p, 4*mrMax*tp/2)
		a.tmp = grow(a.tmp, T*bf16Pairs(Dh))
	}
}

// grow returns s if it holds n values, else a new slice of n.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:cap(s)]
	}
	return make([]float32, n)
}

type attentionJob struct {
	k                   *Kernels
	out, qkv            []float32
	T, H, Dh            int
	scale               float32
	bf16                bool
	probs               bool      // out receives the probabilities [B, H, T, T] (AttentionProbs), not P·V
	mr                  int       // the products' micro-kernel rows
	bq                  int       // queries per score block
	chunks, chunkBlocks int       // query chunks per (image, head) and their blocks
	kl, vl              int       // a head's packed Kᵀ and V sizes
	shared              []float32 // every head's packed Kᵀ and V, or nil: each item packs its own
}

// pack writes head h of image b's Kᵀ ([Dh, T]) and V ([T, Dh]) as panels
// (tmp: bf16 scratch of T·bf16Pairs(Dh) words); V not for probabilities.
func (j *attentionJob) pack(b, h int, kp, vp, tmp []float32) {
	D := j.H * j.Dh
	stride := 3 * D
	base := b * j.T * stride
	if j.bf16 {
		native := j.k.bf16.Native()
		packKTBF16(kp, j.qkv[base+D+h*j.Dh:], stride, j.T, j.Dh, tmp, native)
		packVBF16(vp, j.qkv[base+2*D+h*j.Dh:], stride, j.T, j.Dh, tmp, native)
		return
	}
	packInto(kp, j.qkv[base+D+h*j.Dh:], stride, j.Dh, j.T, true)
	if !j.probs {
		packInto(vp, j.qkv[base+2*D+h*j.Dh:], stride, j.T, j.Dh, false)
	}
}

// attentionPackJob packs every (image, head) pair into the shared buffer,
// one pair per item.
type attentionPackJob attentionJob

func (p *attentionPackJob) run(worker, item int) {
	j := (*attentionJob)(p)
	slot := j.shared[item*(j.kl+j.vl):]
	j.pack(item/j.H, item%j.H, slot[:j.kl], slot[j.kl:j.kl+j.vl], j.k.scratch[worker].att.tmp)
}

func (j *attentionJob) run(worker, item int) {
	k, s := j.k, &j.k.scratch[worker]
	T, H, Dh := j.T, j.H, j.Dh
	D := H * Dh
	stride := 3 * D
	bh, qc := item/j.chunks, item%j.chunks
	b, h := bh/H, bh%H
	q0 := qc * j.chunkBlocks * j.bq
	q1 := min(q0+j.chunkBlocks*j.bq, T)
	if q0 >= q1 {
		return
	}
	base := b * T * stride
	kp, vp := s.att.kp, s.att.vp
	if j.shared != nil {
		slot := j.shared[bh*(j.kl+j.vl):]
		kp, vp = slot[:j.kl], slot[j.kl:j.kl+j.vl]
	} else {
		j.pack(b, h, kp, vp, s.att.tmp)
	}
	tp := ceilDiv(T, nr) * nr
	dp := bf16Pairs(Dh)
	native := k.bf16.Native()
	negInf := float32(math.Inf(-1))
	for t0 := q0; t0 < q1; t0 += j.bq {
		rows := min(j.bq, q1-t0)
		scores := s.att.s[:rows*tp]
		q := &gemmArgs{a: j.qkv[base+t0*stride+h*Dh:], lda: stride, b: kp, K: Dh, N: T, c: scores, ldc: tp, M: rows, mr: j.mr}
		if j.bf16 {
			roundRows(s.att.q, dp, q.a, stride, rows, Dh, native)
			q.a, q.lda, q.K, q.bf16 = s.att.q[:rows*dp], dp, dp, true
		}
		k.gemmSerial(s, q)
		for i := range rows {
			row := scores[i*tp : (i+1)*tp]
			for c := T; c < tp; c++ {
				row[c] = negInf
			}
			k.softmaxRow(row, j.scale)
			if j.probs {
				copy(j.out[(bh*T+t0+i)*T:][:T], row)
			}
		}
		if j.probs {
			continue
		}
		pv := &gemmArgs{a: scores, lda: tp, b: vp, K: T, N: Dh, c: j.out[(b*T+t0)*D+h*Dh:], ldc: D, M: rows, mr: j.mr}
		if j.bf16 {
			roundRows(s.att.p, tp/2, scores, tp, rows, tp, native)
			pv.a, pv.lda, pv.K, pv.bf16 = s.att.p[:rows*tp/2], tp/2, tp/2, true
		}
		k.gemmSerial(s, pv)
	}
}

// gemmSerial runs a whole product on the calling worker.
func (k *Kernels) gemmSerial(s *scratch, g *gemmArgs) {
	p := makePlan(g.M, g.N, g.K, g.mr, 1, g.bf16)
	for im := range p.mChunks {
		for in := range p.nChunks {
			rb0, pn0 := im*p.mcBlocks, in*p.ncPanels
			k.gemmRange(s, g, &p, rb0, min(rb0+p.mcBlocks, p.rowBlocks), pn0, min(pn0+p.ncPanels, p.panels))
		}
	}
}

// softmaxRow is the softmax of one padded row (len a multiple of 32).
func (k *Kernels) softmaxRow(p []float32, scale float32) {
	switch k.isa {
	case AVX512:
		softmaxAVX512(&p[0], len(p), scale, vecTab)
	case AVX2:
		softmaxAVX2(&p[0], len(p), scale, vecTab)
	case NEON:
		softmaxNEON(&p[0], len(p), scale, vecTab)
	default:
		softmaxGeneric(p, scale)
	}
}

// packKTBF16 is packBF16Into(dst, src, ld, Dh, T, true) for attention's Kᵀ
// (the K rows of T tokens, Dh values each, row t at src[t·ld:]): a pair
// row of Kᵀ holds two consecutive values of one token's row, so each row
// is rounded whole (VCVTNEPS2BF16 when native) into tmp and its words
// scattered into its panel column: a transpose of each panel's 32 token
// rows, by VPGATHERDD when native on AVX-512 (gatherColsAVX512).
func packKTBF16(dst, src []float32, ld, T, Dh int, tmp []float32, native bool) {
	dp := bf16Pairs(Dh)
	roundRows(tmp, dp, src, ld, T, Dh, native)
	d, w := pairWords(dst[:packedLen(dp, T)]), pairWords(tmp[:T*dp])
	for p := range ceilDiv(T, nr) {
		panel := d[p*dp*nr : (p+1)*dp*nr]
		cols := min(nr, T-p*nr)
		if native && hasAVX512 {
			_ = w[(p*nr+cols)*dp-1] // the last word the gathers read
			gatherColsAVX512(unsafe.Pointer(&panel[0]), unsafe.Pointer(&w[p*nr*dp]), dp, dp, 1<<cols-1, &iota16)
			continue
		}
		for c := range cols {
			row := w[(p*nr+c)*dp : (p*nr+c+1)*dp]
			for q, v := range row {
				panel[q*nr+c] = v
			}
		}
		for q := range dp {
			clear(panel[q*nr+cols : (q+1)*nr])
		}
	}
}

// iota16 is 0..15, the row numbers gatherColsAVX512 scales to indices.
var iota16 = [16]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// interleaveIdx are interleavePairsAVX512's VPERMT2W indices: half 2i of
// word i (of 16) from the first row (0–31), half 2i+1 from the second
// (32–63); idx[1] for words 16–31.
var interleaveIdx = func() (x [2][32]uint16) {
	for h := range 2 {
		for i := range 16 {
			x[h][2*i] = uint16(16*h + i)
			x[h][2*i+1] = uint16(32 + 16*h + i)
		}
	}
	return x
}()

// packVBF16 is packBF16Into(dst, src, ld, T, Dh, false) for attention's V
// (T rows of Dh values): the rows are rounded whole into tmp, then pair row
// q of a panel interleaves rows 2q and 2q+1 (by VPERMT2W when native on
// AVX-512 BW, interleavePairsAVX512, for the full panels' full pair rows).
func packVBF16(dst, src []float32, ld, T, Dh int, tmp []float32, native bool) {
	dp, tp := bf16Pairs(Dh), bf16Pairs(T)
	roundRows(tmp, dp, src, ld, T, Dh, native)
	d, h := pairWords(dst[:packedLen(tp, Dh)]), halves(tmp[:T*dp])
	for p := range ceilDiv(Dh, nr) {
		panel := d[p*tp*nr : (p+1)*tp*nr]
		cols := min(nr, Dh-p*nr)
		q0 := 0
		if native && hasAVX512BW && cols == nr && T >= 2 {
			// The full pair rows of a full panel; tails below.
			q0 = T / 2
			interleavePairsAVX512(&panel[0], &h[p*nr], 2*dp, q0, &interleaveIdx)
		}
		for q := q0; q < tp; q++ {
			out := panel[q*nr : (q+1)*nr]
			t0, t1 := 2*q, 2*q+1
			switch {
			case t1 < T:
				lo, hi := h[t0*2*dp+p*nr:][:cols], h[t1*2*dp+p*nr:][:cols]
				for c := range cols {
					out[c] = uint32(lo[c]) | uint32(hi[c])<<16
				}
			case t0 < T:
				lo := h[t0*2*dp+p*nr:][:cols]
				for c := range cols {
					out[c] = uint32(lo[c])
				}
			default:
				cols = 0
			}
			clear(out[cols:])
		}
	}
}
