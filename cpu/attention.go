package cpu

import (
	"fmt"
	"math"
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
func (k *Kernels) Attention(out, qkv []float32, B, T, H, Dh int, scale float32) error {
	switch {
	case B < 0 || T < 1 || H < 1 || Dh < 1 || B > maxDim/T || H > maxDim/Dh || B*T > maxDim/(3*H*Dh):
		return fmt.Errorf("cpu: attention: B=%d T=%d H=%d Dh=%d out of range", B, T, H, Dh)
	case len(qkv) < B*T*3*H*Dh:
		return fmt.Errorf("cpu: attention: qkv has %d values, want B·T·3·H·Dh = %d", len(qkv), B*T*3*H*Dh)
	case len(out) < B*T*H*Dh:
		return fmt.Errorf("cpu: attention: out has %d values, want B·T·H·Dh = %d", len(out), B*T*H*Dh)
	case !(scale > 0) || math.IsInf(float64(scale), 0):
		return fmt.Errorf("cpu: attention: scale %g must be positive and finite", scale)
	}
	if B == 0 {
		return nil
	}
	qkv, out = qkv[:B*T*3*H*Dh], out[:B*T*H*Dh]
	if overlaps(qkv, out) {
		return fmt.Errorf("cpu: attention: out overlaps qkv")
	}
	return k.attend(out, qkv, false, B, T, H, Dh, scale)
}

// attend runs the checked attention job on the workers: P·V into out, or
// with probs the probabilities P themselves (AttentionProbs).
func (k *Kernels) attend(out, qkv []float32, probs bool, B, T, H, Dh int, scale float32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errClosed
	}
	k.reserveAttention(T, Dh)
	j := &k.attn
	bq := 4 * k.mr
	qc := min(max(1, ceilDiv(2*k.pool.workers, B*H)), ceilDiv(T, bq))
	*j = attentionJob{k: k, out: out, qkv: qkv, probs: probs, T: T, H: H, Dh: Dh, scale: scale,
		bq: bq, chunks: qc, chunkRows: ceilDiv(T, qc)}
	k.pool.do(B*H*qc, j)
	*j = attentionJob{}
	return nil
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
	return nil
}

// attentionScratch is one worker's packed K and V of the current head and
// its block of scores.
type attentionScratch struct {
	kp, vp, s []float32
}

func (k *Kernels) reserveAttention(T, Dh int) {
	tp := ceilDiv(T, nr) * nr
	for i := range k.scratch {
		a := &k.scratch[i].att
		a.kp = grow(a.kp, packedLen(Dh, T))
		a.vp = grow(a.vp, packedLen(T, Dh))
		a.s = grow(a.s, 4*mrMax*tp)
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
	k                 *Kernels
	out, qkv          []float32
	probs             bool // out receives the probabilities [B, H, T, T] (AttentionProbs), not P·V
	T, H, Dh          int
	scale             float32
	bq                int // queries per score block
	chunks, chunkRows int // query chunks per (image, head) and their size
}

func (j *attentionJob) run(worker, item int) {
	k, s := j.k, &j.k.scratch[worker]
	T, H, Dh := j.T, j.H, j.Dh
	D := H * Dh
	stride := 3 * D
	bh, qc := item/j.chunks, item%j.chunks
	b, h := bh/H, bh%H
	q0, q1 := qc*j.chunkRows, min((qc+1)*j.chunkRows, T)
	if q0 >= q1 {
		return
	}
	base := b * T * stride
	packInto(s.att.kp, j.qkv[base+D+h*Dh:], stride, Dh, T, true) // Kᵀ: [Dh, T]
	if !j.probs {
		packInto(s.att.vp, j.qkv[base+2*D+h*Dh:], stride, T, Dh, false) // V: [T, Dh]
	}
	tp := ceilDiv(T, nr) * nr
	negInf := float32(math.Inf(-1))
	for t0 := q0; t0 < q1; t0 += j.bq {
		rows := min(j.bq, q1-t0)
		scores := s.att.s[:rows*tp]
		k.gemmSerial(s, &gemmArgs{
			a: j.qkv[base+t0*stride+h*Dh:], lda: stride,
			b: s.att.kp, K: Dh, N: T,
			c: scores, ldc: tp, M: rows,
		})
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
		k.gemmSerial(s, &gemmArgs{
			a: scores, lda: tp,
			b: s.att.vp, K: T, N: Dh,
			c: j.out[(b*T+t0)*D+h*Dh:], ldc: D, M: rows,
		})
	}
}

// gemmSerial runs a whole product on the calling worker.
func (k *Kernels) gemmSerial(s *scratch, g *gemmArgs) {
	p := makePlan(g.M, g.N, g.K, k.mr, 1)
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
