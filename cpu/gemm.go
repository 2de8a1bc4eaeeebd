package cpu

import (
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Epilogue says what Gemm does to each element after the product and the
// bias. (The model's plan has its own epilogue type; package engine maps
// it to this one.)
type Epilogue int

const (
	EpilogueNone     Epilogue = 0 // C = A·B + bias
	EpilogueGELU     Epilogue = 1 // C = GELU(A·B + bias), the exact (erf) GELU
	EpilogueResidual Epilogue = 2 // C = R + (A·B + bias); C may be R itself
)

// Blocking parameters. nr is the panel width every ISA shares (two zmm or
// four ymm), so one PackedB serves all ISAs.
const (
	nr        = 32  // columns per packed panel
	mrMax     = 24  // the largest micro-kernel row count (AMX's; fp32's is 12)
	kcMax     = 256 // K block: a panel's kc×32 block (≤ 32 KiB) stays in L1 (384 was no faster here)
	mcRowsMax = 256 // rows per M chunk: its kc-wide slice of A (≤ 256 KiB) stays in L2
	ncMax     = 16  // panels per N chunk, at most
)

// PackedB is a K×N right-hand matrix stored as the micro-kernels read it:
// ceil(N/32) panels of 32 columns, each panel K rows of 32 consecutive
// floats, zero-padded past column N. Pack it once (a layer's weights) and
// use it for any number of products on any ISA.
//
// A PackedB must not be copied (its memory may belong to the original's
// cleanup; see newPackedB): pass the pointer.
type PackedB struct {
	_    noCopy
	k, n int
	data []float32
	// bf16: data holds bf16 pairs (PackLinearBF16), kp pair rows per panel.
	bf16 bool
	kp   int
}

// noCopy makes go vet's copylocks check flag copies of a PackedB.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// K is the inner dimension (rows of B).
func (b *PackedB) K() int { return b.k }

// N is the number of output columns.
func (b *PackedB) N() int { return b.n }

// PackB packs w, stored row-major [K, N].
func PackB(w []float32, K, N int) (*PackedB, error) {
	if err := packCheck(len(w), K, N); err != nil {
		return nil, fmt.Errorf("cpu: PackB: %w", err)
	}
	b := newPackedB(K, N)
	packInto(b.data, w, N, K, N, false)
	return b, nil
}

// PackLinear packs the transpose of w, stored row-major [N, K]: the weight
// of a torch nn.Linear(K, N), whose rows are the output features, so that
// Gemm computes x·wᵀ.
func PackLinear(w []float32, N, K int) (*PackedB, error) {
	if err := packCheck(len(w), K, N); err != nil {
		return nil, fmt.Errorf("cpu: PackLinear: %w", err)
	}
	b := newPackedB(K, N)
	packInto(b.data, w, K, K, N, true)
	return b, nil
}

func packCheck(n, K, N int) error {
	if K < 1 || N < 1 {
		return fmt.Errorf("sizes K=%d, N=%d: both must be at least 1", K, N)
	}
	if K > maxDim/N || n != K*N {
		return fmt.Errorf("%d values for K×N = %d×%d", n, K, N)
	}
	return nil
}

// maxDim bounds products of sizes so that they, and their byte counts,
// cannot overflow an int.
const maxDim = math.MaxInt / 4

func packedLen(K, N int) int { return ceilDiv(N, nr) * nr * K }

// packInto writes the panels of a K×N matrix into dst (packedLen floats).
// Element (k, n) is src[k·ld + n], or src[n·ld + k] when trans. Both
// directions read src sequentially; trans on AVX-512 gathers each panel
// row instead (gatherColsAVX512).
func packInto(dst, src []float32, ld, K, N int, trans bool) {
	for p := range ceilDiv(N, nr) {
		panel := dst[p*K*nr : (p+1)*K*nr]
		n0 := p * nr
		cols := min(nr, N-n0)
		if trans && hasAVX512 {
			_ = src[(n0+cols-1)*ld+K-1] // the last element the gathers read
			gatherColsAVX512(unsafe.Pointer(&panel[0]), unsafe.Pointer(&src[n0*ld]), ld, K, 1<<cols-1, &iota16)
			continue
		}
		if trans {
			for j := range cols {
				col := panel[j:]
				for kk, v := range src[(n0+j)*ld : (n0+j)*ld+K] {
					col[kk*nr] = v
				}
			}
			if cols < nr {
				for kk := range K {
					clear(panel[kk*nr+cols : (kk+1)*nr])
				}
			}
			continue
		}
		for kk := range K {
			row := panel[kk*nr : kk*nr+nr]
			copy(row[:cols], src[kk*ld+n0:kk*ld+n0+cols])
			clear(row[cols:])
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Gemm computes C[M, N] = epilogue(A[M, K]·B + bias) with A and C
// row-major and contiguous (strides K and N). bias ([N]) may be nil; r
// ([M, N]) is read only for EpilogueResidual and may be c itself (in place)
// but must not partly overlap it; c must not overlap a or bias. Each element is a
// float32 sum of the K products in k order, so the result does not depend
// on M, the tiling, the thread count or the ISA's register block (AVX2 and
// AVX-512 agree bit for bit except after GELU).
func (k *Kernels) Gemm(c, a []float32, b *PackedB, bias, r []float32, M int, ep Epilogue) error {
	if b == nil {
		return fmt.Errorf("cpu: gemm: nil PackedB")
	}
	K, N := b.k, b.n
	switch {
	case M < 0 || M > maxDim/max(K, N):
		return fmt.Errorf("cpu: gemm: M=%d out of range", M)
	case ep < EpilogueNone || ep > EpilogueResidual:
		return fmt.Errorf("cpu: gemm: unknown epilogue %d", ep)
	case len(a) < M*K:
		return fmt.Errorf("cpu: gemm: A has %d values, want M×K = %d×%d", len(a), M, K)
	case len(c) < M*N:
		return fmt.Errorf("cpu: gemm: C has %d values, want M×N = %d×%d", len(c), M, N)
	case bias != nil && len(bias) < N:
		return fmt.Errorf("cpu: gemm: bias has %d values, want N = %d", len(bias), N)
	case ep == EpilogueResidual && len(r) < M*N:
		return fmt.Errorf("cpu: gemm: residual has %d values, want M×N = %d×%d", len(r), M, N)
	}
	if M == 0 {
		return nil
	}
	a, c = a[:M*K], c[:M*N]
	if overlaps(c, a) {
		return fmt.Errorf("cpu: gemm: C overlaps A")
	}
	if ep == EpilogueResidual {
		r = r[:M*N]
		if overlaps(c, r) && &c[0] != &r[0] {
			return fmt.Errorf("cpu: gemm: C partly overlaps R (in place needs C and R to start at the same element)")
		}
	} else {
		r = nil
	}
	if bias != nil {
		bias = bias[:N]
		if overlaps(c, bias) {
			return fmt.Errorf("cpu: gemm: C overlaps the bias")
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errClosed
	}
	g := &k.gemm
	g.k = k
	g.args = gemmArgs{a: a, lda: K, b: b.data, K: K, N: N, c: c, ldc: N, bias: bias, r: r, ldr: N, M: M, ep: ep, mr: k.mr}
	if b.bf16 {
		// A rounded to bf16 pairs once, row block by row block as the
		// items first need them (aRounding); the product reads the pairs
		// like fp32 values (K counts pairs).
		k.abf = grow(k.abf, M*b.kp)
		g.args.a, g.args.lda, g.args.K = k.abf[:M*b.kp], b.kp, b.kp
		g.args.bf16, g.args.mr = true, k.mrBF16
		blocks := ceilDiv(M, k.mrBF16)
		if len(k.rounded) < blocks {
			k.rounded = make([]atomic.Int32, blocks)
		}
		for i := range blocks {
			k.rounded[i].Store(0)
		}
		k.rounding = aRounding{src: a, K: K, native: k.bf16.Native(), done: k.rounded[:blocks]}
		g.args.round = &k.rounding
	}
	g.plan = makePlan(M, N, g.args.K, g.args.mr, k.pool.workers, g.args.bf16)
	k.pool.do(g.plan.mChunks*g.plan.nChunks, g)
	g.args = gemmArgs{} // drop the references to the caller's slices
	k.rounding = aRounding{}
	runtime.KeepAlive(b) // its memory may be a mapping that b's cleanup unmaps
	return nil
}

// overlaps reports whether x and y share memory.
func overlaps(x, y []float32) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	x0, y0 := uintptr(unsafe.Pointer(&x[0])), uintptr(unsafe.Pointer(&y[0]))
	return x0 < y0+4*uintptr(len(y)) && y0 < x0+4*uintptr(len(x))
}

// gemmArgs is one product with explicit strides: A row i at a[i·lda:],
// C row i at c[i·ldc:], R row i at r[i·ldr:]; b holds packed panels.
type gemmArgs struct {
	a       []float32
	lda     int
	b       []float32
	K, N    int
	c       []float32
	ldc     int
	bias, r []float32
	ldr     int
	M       int
	ep      Epilogue
	mr      int  // the micro-kernel's rows
	bf16    bool // a and b hold bf16 pairs, K counts pairs
	// round, if not nil: a is still to be made, row block by row block,
	// from float32 rows (gemmRange's items do it at first use).
	round *aRounding
}

// aRounding is the rounding of a bf16 product's A to pairs, spread over
// the product's items instead of a pass of its own: the first item to need
// a row block claims it (done 0 → 1), rounds its rows from src (rows of K
// floats) and publishes it (→ 2); an item that finds a block claimed by
// another waits for it after claiming what it can. So every row is rounded
// once, by the worker that reaches it first, while the other computes.
type aRounding struct {
	src    []float32
	K      int
	native bool
	done   []atomic.Int32 // per row block of mr rows
}

// ensure makes row blocks [rb0, rb1) of g.a.
func (r *aRounding) ensure(g *gemmArgs, rb0, rb1 int) {
	for rb := rb0; rb < rb1; rb++ {
		if r.done[rb].CompareAndSwap(0, 1) {
			row0 := rb * g.mr
			rows := min(g.mr, g.M-row0)
			roundRows(g.a[row0*g.lda:], g.lda, r.src[row0*r.K:], r.K, rows, r.K, r.native)
			r.done[rb].Store(2)
		}
	}
	for rb := rb0; rb < rb1; rb++ {
		for i := 1; r.done[rb].Load() != 2; i++ {
			spinPause()
			if i%1024 == 0 {
				runtime.Gosched() // its claimer lost its core: a block takes microseconds
			}
		}
	}
}

// gemmPlan splits a product into mChunks×nChunks items of mcBlocks row
// blocks by ncPanels panels, and K into nk blocks of kc.
type gemmPlan struct {
	rowBlocks, panels  int
	mcBlocks, ncPanels int
	mChunks, nChunks   int
	nk, kc             int
}

// makePlan sizes the items: as many rows as fit mcRowsMax (so a K block of
// an item's A stays in L2 while each panel's K block is reused from L1 by
// every row block) and up to ncMax panels, then splits until there are at
// least three items per worker for the pool to balance: N first, down to
// one panel (each panel's weights are then read from memory by one worker
// only, while the chunk's A, re-read by every item, stays in L2), then M.
//
// A bf16 product's K blocks are multiples of 16 pairs (an AMX tile row;
// bf16Pairs pads K to that).
func makePlan(M, N, K, mr, workers int, bf16 bool) gemmPlan {
	p := gemmPlan{rowBlocks: ceilDiv(M, mr), panels: ceilDiv(N, nr)}
	p.nk = ceilDiv(K, kcMax)
	p.kc = ceilDiv(K, p.nk)
	if bf16 {
		p.kc = ceilDiv(p.kc, 16) * 16
	}
	p.mcBlocks = min(max(mcRowsMax/mr, 1), p.rowBlocks)
	p.ncPanels = min(ncMax, p.panels)
split:
	for workers > 1 && ceilDiv(p.rowBlocks, p.mcBlocks)*ceilDiv(p.panels, p.ncPanels) < 3*workers {
		switch {
		case p.ncPanels > 1:
			p.ncPanels = ceilDiv(p.ncPanels, 2)
		case p.mcBlocks > 1:
			p.mcBlocks = ceilDiv(p.mcBlocks, 2)
		default:
			break split
		}
	}
	p.mChunks = ceilDiv(p.rowBlocks, p.mcBlocks)
	p.nChunks = ceilDiv(p.panels, p.ncPanels)
	if workers > 1 {
		p.balance(workers)
	}
	p.chunk(p.mChunks, p.nChunks)
	return p
}

// chunk sets the plan to mc×nc items of even sizes (the last of each
// dimension at most one block or panel smaller).
func (p *gemmPlan) chunk(mc, nc int) {
	p.mcBlocks = ceilDiv(p.rowBlocks, mc)
	p.ncPanels = ceilDiv(p.panels, nc)
	p.mChunks = ceilDiv(p.rowBlocks, p.mcBlocks)
	p.nChunks = ceilDiv(p.panels, p.ncPanels)
}

// balance refines the item grid so that the workers finish together: 9
// equal items on 2 workers leave one idle for a ninth of the product
// (DeiT-small's qkv at batch 1), 12 do not. It tries up to twice the
// items in each dimension and keeps the grid whose simulated finish time
// is earliest, items taken in the pool's order by whichever worker is free
// first, each costing its tiles plus one tile of overhead (its share of A
// and B to stream); ties keep the fewer, larger items.
func (p *gemmPlan) balance(workers int) {
	bestM, bestN, best := p.mChunks, p.nChunks, p.finishTime(p.mChunks, p.nChunks, workers)
	for nc := p.nChunks; nc <= min(2*p.nChunks, p.panels); nc++ {
		for mc := p.mChunks; mc <= min(2*p.mChunks, p.rowBlocks); mc++ {
			if t := p.finishTime(mc, nc, workers); t < best {
				bestM, bestN, best = mc, nc, t
			}
		}
	}
	p.mChunks, p.nChunks = bestM, bestN
}

// finishTime simulates the mc×nc grid (chunked as chunk does) on the
// workers, in tile units.
func (p *gemmPlan) finishTime(mc, nc, workers int) int {
	q := *p
	q.chunk(mc, nc)
	var free [16]int // the workers' busy-until times; more than 16 are simulated as 16
	w := min(workers, len(free))
	end := 0
	for item := range q.mChunks * q.nChunks {
		im, in := item%q.mChunks, item/q.mChunks
		rows := min(q.mcBlocks, q.rowBlocks-im*q.mcBlocks)
		cols := min(q.ncPanels, q.panels-in*q.ncPanels)
		first := 0
		for i := 1; i < w; i++ {
			if free[i] < free[first] {
				first = i
			}
		}
		free[first] += rows*cols + 1
		end = max(end, free[first])
	}
	return end
}

// gemmJob is the pool task of one Gemm call.
type gemmJob struct {
	k    *Kernels
	args gemmArgs
	plan gemmPlan
}

func (g *gemmJob) run(worker, item int) {
	p := &g.plan
	im, in := item%p.mChunks, item/p.mChunks
	rb0, pn0 := im*p.mcBlocks, in*p.ncPanels
	g.k.gemmRange(&g.k.scratch[worker], &g.args, p, rb0, min(rb0+p.mcBlocks, p.rowBlocks), pn0, min(pn0+p.ncPanels, p.panels))
}

// gemmRange computes row blocks [rb0, rb1) × panels [pn0, pn1) of a product
// on one worker, BLIS-style: for each K block, for each panel, every row
// block runs the micro-kernel on that panel's kc×32 block, which stays in
// L1, while the item's kc-wide slice of A stays in L2. Each call also
// prefetches a share of the next panel block into L2, so that the weights,
// which come from memory, stream in behind the arithmetic instead of
// stalling it.
//
// Every K block but the last leaves its partial sums in the worker's acc
// scratch (so R is untouched until the last block reads it, and in-place
// residuals work); the last adds bias and R, stores C and applies GELU.
// Tiles that stick out of M or N run on scratch copies (A rows, bias, R)
// into a scratch tile, of which only the valid part is copied to C.
func (k *Kernels) gemmRange(s *scratch, g *gemmArgs, p *gemmPlan, rb0, rb1, pn0, pn1 int) {
	if g.round != nil {
		g.round.ensure(g, rb0, rb1)
	}
	mr := g.mr
	nrb, npn := rb1-rb0, pn1-pn0
	var gelu *vecConsts
	if g.ep == EpilogueGELU {
		gelu = vecTab
	}
	for kb := range p.nk {
		k0 := kb * p.kc
		kl := min(p.kc, g.K-k0)
		first, last := kb == 0, kb == p.nk-1
		// A tail row block's slice, zero-padded to mr rows.
		tailRows := g.M - (rb1-1)*mr
		if tailRows < mr {
			for i := range mr {
				dst := s.a[i*kl : (i+1)*kl]
				if i < tailRows {
					copy(dst, g.a[((rb1-1)*mr+i)*g.lda+k0:])
				} else {
					clear(dst)
				}
			}
		}
		for pn := pn0; pn < pn1; pn++ {
			col0 := pn * nr
			cols := min(nr, g.N-col0)
			bp := &g.b[(pn*g.K+k0)*nr]
			// The next panel block in this order: (pn+1, kb), else (pn0, kb+1).
			nextOff, nextLines := 0, 0
			if pn+1 < pn1 {
				nextOff, nextLines = ((pn+1)*g.K+k0)*nr, kl*nr/16
			} else if !last {
				nextOff, nextLines = (pn0*g.K+k0+kl)*nr, min(p.kc, g.K-k0-kl)*nr/16
			}
			share := ceilDiv(nextLines, nrb)
			var bias *float32
			if last && g.bias != nil {
				if cols == nr {
					bias = &g.bias[col0]
				} else {
					copy(s.bias[:], g.bias[col0:col0+cols])
					clear(s.bias[cols:])
					bias = &s.bias[0]
				}
			}
			for rb := rb0; rb < rb1; rb++ {
				j := rb - rb0
				var pf *float32
				pfn := 0
				if lo := j * share; lo < nextLines {
					pf, pfn = &g.b[nextOff+lo*16], min(share, nextLines-lo)
				}
				row0 := rb * mr
				rows := min(mr, g.M-row0)
				ap, lda := &g.a[row0*g.lda+k0], g.lda
				if rows < mr {
					ap, lda = &s.a[0], kl
				}
				tile := s.acc[(j*npn+pn-pn0)*mr*nr:]
				var acc *float32
				if !first {
					acc = &tile[0]
				}
				if g.bf16 {
					// Raw sums into the tile for finish to apply the
					// epilogue, or, on the last K block of a product
					// without one (attention's), straight into C.
					if last && bias == nil && g.r == nil && gelu == nil {
						if rows == mr && cols == nr {
							k.kernelBF16(kl, ap, lda, bp, acc, &g.c[row0*g.ldc+col0], g.ldc, pf, pfn)
							continue
						}
						k.kernelBF16(kl, ap, lda, bp, acc, &s.c[0], nr, pf, pfn)
						for i := range rows {
							copy(g.c[(row0+i)*g.ldc+col0:(row0+i)*g.ldc+col0+cols], s.c[i*nr:])
						}
						continue
					}
					k.kernelBF16(kl, ap, lda, bp, acc, &tile[0], nr, pf, pfn)
					acc = &tile[0]
				} else if !last {
					k.kernel(kl, ap, lda, bp, acc, nr, &tile[0], nr, nil, nil, 0, nil, pf, pfn, cols)
				}
				if !last {
					continue
				}
				full := rows == mr && cols == nr
				var r *float32
				ldr := 0
				if g.r != nil {
					if full {
						r, ldr = &g.r[row0*g.ldr+col0], g.ldr
					} else {
						for i := range mr {
							dst := s.r[i*nr : (i+1)*nr]
							if i < rows {
								copy(dst[:cols], g.r[(row0+i)*g.ldr+col0:])
								clear(dst[cols:])
							} else {
								clear(dst)
							}
						}
						r, ldr = &s.r[0], nr
					}
				}
				if full {
					k.finish(g, kl, ap, lda, bp, acc, &g.c[row0*g.ldc+col0], g.ldc, bias, r, ldr, gelu, pf, pfn, cols)
					continue
				}
				k.finish(g, kl, ap, lda, bp, acc, &s.c[0], nr, bias, r, ldr, gelu, pf, pfn, cols)
				for i := range rows {
					copy(g.c[(row0+i)*g.ldc+col0:(row0+i)*g.ldc+col0+cols], s.c[i*nr:])
				}
			}
		}
	}
}

// kernel runs the ISA's micro-kernel on one mr×32 tile (see gemm_amd64.s
// for the arguments). AVX2 and NEON cover the panel in two 16-column halves
// and skip the right one when cols ≤ 16, whose results nobody reads.
func (k *Kernels) kernel(kl int, a *float32, lda int, b, acc *float32, ldacc int, c *float32, ldc int, bias, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn, cols int) {
	switch k.isa {
	case AVX512:
		gemmKernelAVX512(kl, a, lda, b, acc, ldacc, c, ldc, bias, r, ldr, gelu, pf, pfn)
	case AVX2:
		gemmKernelAVX2(kl, a, lda, b, acc, ldacc, c, ldc, bias, r, ldr, gelu, pf, pfn)
		if cols > nr/2 {
			gemmKernelAVX2(kl, a, lda, add16(b), add16(acc), ldacc, add16(c), ldc, add16(bias), add16(r), ldr, gelu, nil, 0)
		}
	case NEON:
		gemmKernelNEON(kl, a, lda, b, acc, ldacc, c, ldc, bias, r, ldr, gelu, pf, pfn)
		if cols > nr/2 {
			gemmKernelNEON(kl, a, lda, add16(b), add16(acc), ldacc, add16(c), ldc, add16(bias), add16(r), ldr, gelu, nil, 0)
		}
	default:
		gemmKernelGeneric(kl, a, lda, b, acc, ldacc, c, ldc, bias, r, ldr, gelu)
	}
}

// finish runs a tile's last K block with its epilogue: the fp32
// micro-kernel, or, for bf16, whose raw sums kernelBF16 left in acc, the
// fp32 micro-kernel on one zero product per group of k.mr rows: acc + 0·0
// is acc exactly (up to the sign of a zero), and bias, residual and GELU
// follow as in fp32, so every precision shares one epilogue.
func (k *Kernels) finish(g *gemmArgs, kl int, a *float32, lda int, b, acc, c *float32, ldc int, bias, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn, cols int) {
	if !g.bf16 {
		k.kernel(kl, a, lda, b, acc, nr, c, ldc, bias, r, ldr, gelu, pf, pfn, cols)
		return
	}
	for i := 0; i < g.mr; i += k.mr {
		k.kernel(1, &zeroPanel[0], 0, &zeroPanel[0], addRows(acc, i, nr), nr, addRows(c, i, ldc), ldc, bias, addRows(r, i, ldr), ldr, gelu, nil, 0, cols)
	}
}

// zeroPanel is one zero panel row (never written): finish's zero product.
var zeroPanel [nr]float32

// kernelBF16 runs the bf16 unit's micro-kernel on one tile of g.mr rows
// (see gemm_bf16_amd64.s, gemm_bf16_arm64.s for the arguments; acc has
// stride nr): raw sums into c, stride ldc.
func (k *Kernels) kernelBF16(kp int, a *float32, lda int, b, acc, c *float32, ldc int, pf *float32, pfn int) {
	switch k.bf16 {
	case BF16AVX512:
		gemmKernelBF16AVX512(kp, a, lda, b, acc, nr, c, ldc, pf, pfn)
	case BF16NEON:
		gemmKernelBF16NEON(kp, a, lda, b, acc, nr, c, ldc, pf, pfn)
	case BF16AMX:
		gemmKernelAMX(kp, a, lda, b, acc, nr, c, ldc, amxTiles)
	case bf16AMXModel:
		gemmKernelAMXModel(kp, a, lda, b, acc, nr, c, ldc, amxTiles)
	default:
		gemmKernelBF16Generic(kp, a, lda, b, acc, nr, c, ldc)
	}
}

// addRows is p + i rows of ld floats, or nil for nil.
func addRows(p *float32, i, ld int) *float32 {
	if p == nil {
		return nil
	}
	return (*float32)(unsafe.Add(unsafe.Pointer(p), 4*i*ld))
}

// add16 is p + 16 floats, or nil for nil.
func add16(p *float32) *float32 {
	if p == nil {
		return nil
	}
	return (*float32)(unsafe.Add(unsafe.Pointer(p), 64))
}

// ReserveGemmBF16 grows the buffer a bf16 Gemm rounds A into to M rows of
// K values now (GemmBF16Words(M, K) 32-bit words), so that later products
// up to that size allocate nothing.
func (k *Kernels) ReserveGemmBF16(M, K int) error {
	if M < 0 || K < 0 || M > maxDim/max(bf16Pairs(K), 1) {
		return fmt.Errorf("cpu: gemm: M=%d K=%d out of range", M, K)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.abf = grow(k.abf, GemmBF16Words(M, K))
	if blocks := ceilDiv(M, k.mrBF16); len(k.rounded) < blocks {
		k.rounded = make([]atomic.Int32, blocks)
	}
	return nil
}

// GemmBF16Words is the size, in 32-bit words, of the bf16 copy of an M×K
// A that a bf16 Gemm makes: K rounded up to 32 bf16 values per row.
func GemmBF16Words(M, K int) int { return M * bf16Pairs(K) }
