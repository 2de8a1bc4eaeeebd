package imageio

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A Budget bounds the memory that the decodes sharing it (through
// DecodeOptions.Budget) use at the same time: N workers decoding large images
// would otherwise need N times the memory of one. Each decode reads the
// header, estimates its working memory, waits until the budget has room for
// it (first come, first served), decodes, and gives the memory back when
// Decode returns. An image whose estimate exceeds the whole budget is
// refused with ErrTooLarge rather than waited for forever.
//
// The estimate, in bytes, for an image of P = width × height pixels:
//
//	3·P                the RGB result
//	+ 3·P              when the EXIF orientation rotates or flips it (a copy)
//	+ the decoder's own memory:
//	  JPEG             libjpeg's whole-image coefficient buffers for
//	                   progressive and other multi-scan files (2 bytes per
//	                   sample of every component, padded to whole MCUs; none
//	                   for baseline), plus 128 bytes per column per component
//	                   and 4 MiB for its row buffers and tables; libjpeg is
//	                   held to that figure. CMYK adds 64 bytes per column.
//	  PNG              the decoded image: 4·P bytes for 8-bit (gray may turn
//	                   NRGBA), 8·P for 16-bit, 1·P for palettes; twice that
//	                   when interlaced
//	  GIF              1·P (the first frame, paletted)
//	  BMP              4·P, 1·P for palettes
//	  TIFF             twice the decoded image (the strips, then the image)
//	  WebP             8·P
//	  Go decoders      + 1 MiB
//
// The encoded bytes themselves (at most DecodeOptions.MaxBytes per decode)
// are not counted. The RGB result leaves the budget when Decode returns it.
// The Go decoders' intermediate images are garbage from then on, but the Go
// runtime reuses or returns that memory only after a collection, which by
// default comes when the heap has doubled: a process that wants its memory
// bounded by the budget too calls LimitProcessMemory once it has loaded
// what it keeps (a model, an engine).
//
// Acquire and Release are exported so that a caller can hold more memory
// under the same budget (say, the preprocessing of a decoded image). A
// Budget is safe for concurrent use.
type Budget struct {
	size int64

	mu      sync.Mutex
	used    int64
	waiters list.List // of *budgetWaiter, oldest first
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once the bytes are held for the waiter
}

// NewBudget returns a Budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{size: size}
}

// Size returns the budget's size in bytes.
func (b *Budget) Size() int64 { return b.size }

// Acquire waits until n bytes of the budget are free and holds them, or
// returns ctx.Err() if ctx is done first. Requests are served in order, so
// a large one is not starved by small ones. n larger than the whole budget
// fails at once with ErrTooLarge.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	if n > b.size {
		return fmt.Errorf("%w: needs an estimated %d bytes to decode, more than the whole budget of %d bytes", ErrTooLarge, n, b.size)
	}
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.size-b.used >= n {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready:
			// Granted while giving up: hand the bytes back.
			b.used -= n
		default:
			b.waiters.Remove(elem)
		}
		// Either way the waiters behind may fit now.
		b.grant()
		b.mu.Unlock()
		return fmt.Errorf("waiting for %d bytes of the decode budget: %w", n, ctx.Err())
	}
}

// Release gives back n bytes held by Acquire.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("imageio: Budget.Release of more bytes than were acquired")
	}
	b.grant()
}

// grant hands free bytes to the waiters in order, stopping at the first one
// that does not fit. b.mu is held.
func (b *Budget) grant() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.size-b.used < w.n {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// MemoryHeadroom is what MemoryLimit allows beyond the budget and the
// memory held before decoding: the Go runtime's own overhead (stacks, GC
// metadata, partly filled spans) and the small allocations outside the
// budget (preprocessed pixels, batches, buffers of the engine's calls).
const MemoryHeadroom = 128 << 20

// MemoryLimit is the soft memory limit for the Go runtime
// (runtime/debug.SetMemoryLimit) of a process whose image decodes share b
// and which holds inUse bytes of Go memory besides (a model, an engine):
// b's size + inUse + MemoryHeadroom, saturating. Under it the collector
// reclaims the decoders' garbage before the process grows past the budget
// plus what it held, instead of when the heap has doubled.
func (b *Budget) MemoryLimit(inUse int64) int64 {
	if inUse > math.MaxInt64-MemoryHeadroom-b.size {
		return math.MaxInt64
	}
	return b.size + inUse + MemoryHeadroom
}

// LimitProcessMemory sets the Go runtime's soft memory limit to
// b.MemoryLimit of the Go memory in use now (measured after a collection),
// unless a lower limit is set already (GOMEMLIMIT), and returns the limit
// in force. Call it once what the process keeps is loaded (the model and
// the engine) and before the decodes start. The limit is process-wide
// state: programs call this, libraries do not. Memory outside the Go
// runtime (libjpeg's, which the budget counts; a GPU driver's) is not
// under the limit.
func (b *Budget) LimitProcessMemory() int64 {
	limit := b.MemoryLimit(goMemoryInUse())
	if cur := debug.SetMemoryLimit(-1); cur <= limit {
		return cur
	}
	debug.SetMemoryLimit(limit)
	return limit
}

// goMemoryInUse is the Go memory the process holds after a collection: all
// the runtime has mapped, less the heap's free, released and unused bytes.
func goMemoryInUse() int64 {
	runtime.GC()
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	metrics.Read(samples)
	n := int64(samples[0].Value.Uint64())
	for _, s := range samples[1:] {
		n -= int64(s.Value.Uint64())
	}
	return n
}
