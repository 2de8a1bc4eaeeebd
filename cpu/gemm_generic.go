package cpu

import "unsafe"

// mrGeneric is the row count of the generic micro-kernel's tile.
const mrGeneric = 4

// gemmKernelGeneric is the Go twin of the assembly micro-kernels: the same
// arguments and layouts (see gemm_amd64.s), for an mrGeneric×32 tile. Each
// element is one float32 sum over k in order, then + bias, then + R, then
// GELU when gelu is not nil. (Prefetching has no Go equivalent.)
func gemmKernelGeneric(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts) {
	bp := unsafe.Slice(b, (k-1)*nr+nr)
	var bs []float32
	if bias != nil {
		bs = unsafe.Slice(bias, nr)
	}
	var s [mrGeneric][nr]float32
	if acc != nil {
		for i := range mrGeneric {
			copy(s[i][:], unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(acc), 4*i*ldacc)), nr))
		}
	}
	for i := range mrGeneric {
		ar := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(a), 4*i*lda)), k)
		si := &s[i]
		for kk, av := range ar {
			br := (*[nr]float32)(bp[kk*nr : kk*nr+nr])
			for j := range nr {
				si[j] += av * br[j]
			}
		}
		if bs != nil {
			for j := range nr {
				si[j] += bs[j]
			}
		}
		if r != nil {
			rr := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(r), 4*i*ldr)), nr)
			for j := range nr {
				si[j] += rr[j]
			}
		}
	}
	for i := range mrGeneric {
		if gelu != nil {
			geluGeneric(s[i][:], s[i][:])
		}
		copy(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), 4*i*ldc)), nr), s[i][:])
	}
}
