package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Kernels is a set of kernels bound to one ISA and one pool of worker
// goroutines, with every worker's scratch memory allocated once. Its methods
// are safe for concurrent use; calls are serialized (each one already uses
// every worker), and none allocates once the scratch has grown to the
// largest shapes seen (see ReserveAttention).
type Kernels struct {
	mu       sync.Mutex
	isa      ISA
	mr       int // micro-kernel tile rows
	bf16     BF16Dot
	mrBF16   int            // the bf16 micro-kernel's tile rows
	abf      []float32      // a bf16 Gemm's A, rounded to pairs
	rounded  []atomic.Int32 // its row blocks' rounding states (aRounding)
	rounding aRounding
	pool     *pool
	scratch  []scratch // one per worker
	gemm     gemmJob   // reused job values: the pool gets pointers to them
	attn     attentionJob
	attnKV   []float32 // every head's packed K and V at small batches
	ln       layerNormJob
	gelu     geluJob
	closed   bool
}

// scratch is one worker's private memory.
type scratch struct {
	acc  []float32 // partial sums of an item: mcRowsMax+mrMax rows × ncMax panels × nr
	a    []float32 // a tail row block of A: mrMax × kcMax
	c, r []float32 // a partial output tile and its residual: mrMax × nr
	bias [nr]float32
	att  attentionScratch
}

// New returns kernels for isa (Auto: Best()) running on threads workers
// (≤ 0: GOMAXPROCS), the calling goroutine being one of them. It fails if
// the CPU or this build cannot run isa. Close stops the workers.
func New(isa ISA, threads int) (*Kernels, error) {
	return NewBF16(isa, BF16Auto, threads)
}

// NewBF16 is New with the unit of the bf16 products chosen too (BF16Auto:
// BestBF16() when isa resolves to AVX512 or NEON, else BF16Generic). It fails if
// the CPU or this build cannot run isa or dot.
func NewBF16(isa ISA, dot BF16Dot, threads int) (*Kernels, error) {
	isa = isa.Resolve()
	if !isa.Supported() {
		return nil, fmt.Errorf("cpu: ISA %v is not supported on this CPU or build (best: %v)", isa, Best())
	}
	if dot == BF16Auto {
		dot = BF16Generic
		if isa == AVX512 || isa == NEON {
			dot = BestBF16()
		}
	}
	if !dot.Supported() {
		return nil, fmt.Errorf("cpu: bf16 unit %v is not supported on this CPU or build (best: %v)", dot, BestBF16())
	}
	k := &Kernels{isa: isa, mr: microRows(isa), bf16: dot, mrBF16: microRowsBF16(dot), pool: newPool(threads)}
	// Kernels dropped without Close still stop their goroutines (the pool
	// holds no reference back to k between calls).
	runtime.AddCleanup(k, func(p *pool) { p.close() }, k.pool)
	k.scratch = make([]scratch, k.pool.workers)
	for i := range k.scratch {
		s := &k.scratch[i]
		s.acc = make([]float32, (mcRowsMax+mrMax)*ncMax*nr)
		s.a = make([]float32, mrMax*kcMax) // fp32 values or bf16 pairs
		s.c = make([]float32, mrMax*nr)
		s.r = make([]float32, mrMax*nr)
	}
	return k, nil
}

// ISA is the instruction set the kernels run on.
func (k *Kernels) ISA() ISA { return k.isa }

// BF16 is the unit that runs the bf16 products.
func (k *Kernels) BF16() BF16Dot { return k.bf16 }

// Threads is the number of workers, the caller included.
func (k *Kernels) Threads() int { return k.pool.workers }

// String describes the kernels, e.g. "avx512, 2 threads".
func (k *Kernels) String() string {
	return fmt.Sprintf("%v, %d threads", k.isa, k.pool.workers)
}

// Close stops the worker goroutines. Later calls return an error.
func (k *Kernels) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed {
		k.closed = true
		k.pool.close()
	}
}

// errClosed is returned by every method after Close.
var errClosed = fmt.Errorf("cpu: kernels used after Close")

// microRows is the row count of isa's micro-kernel tile.
func microRows(isa ISA) int {
	switch isa {
	case AVX512:
		return 12
	case AVX2, NEON:
		return 6
	}
	return mrGeneric
}
