package ref

import "github.com/vkdeit/vkdeit/internal/par"

// Epilogue says what a matmul does to each element after the product and
// the bias, as the matmul kernels of packages gpu and cpu do (each with an
// Epilogue type of its own; their tests map theirs to this one).
type Epilogue int

const (
	EpilogueNone     Epilogue = 0 // A·W + bias
	EpilogueGELU     Epilogue = 1 // GELU(A·W + bias)
	EpilogueResidual Epilogue = 2 // R + A·W + bias
)

// Matmul is the twin of the matmul kernels: C[M,N] = epilogue(A[M,K]·W[K,N]
// + bias[N]) with W stored [K,N] (an nn.Linear weight transposed). bias may
// be nil; r [M,N] is read only for EpilogueResidual.
func Matmul(a, w, bias, r []float32, M, N, K int, ep Epilogue) []float64 {
	wt := make([]float32, N*K) // [N,K]: the layout the row-blocked core reads
	for k := range K {
		for n := range N {
			wt[n*K+k] = w[k*N+n]
		}
	}
	return linear(a, wt, bias, r, M, K, N, ep)
}

// Linear is y[rows,out] = x[rows,in]·Wᵀ + bias with W in nn.Linear layout
// [out,in]; bias may be nil.
func Linear(x, w, bias []float32, rows, in, out int) []float64 {
	return linear(x, w, bias, nil, rows, in, out, EpilogueNone)
}

// linear is the shared core: rows go in blocks of four so that each weight
// row, widened once, serves four dot products; each output is still one
// plain float64 sum over k in order. Blocks are spread over the CPUs.
func linear(x, w, bias, r []float32, rows, in, out int, ep Epilogue) []float64 {
	const rb = 4
	y := make([]float64, rows*out)
	par.Rows((rows+rb-1)/rb, func(lo, hi int) {
		xs := make([]float64, rb*in)
		for blk := lo; blk < hi; blk++ {
			r0 := blk * rb
			n := min(rb, rows-r0)
			clear(xs)
			for j := range n {
				for i, v := range x[(r0+j)*in : (r0+j+1)*in] {
					xs[j*in+i] = float64(v)
				}
			}
			x0, x1, x2, x3 := xs[0:in], xs[in:2*in], xs[2*in:3*in], xs[3*in:4*in]
			for o := range out {
				wr := w[o*in : (o+1)*in]
				x0, x1, x2, x3 := x0[:len(wr)], x1[:len(wr)], x2[:len(wr)], x3[:len(wr)]
				var s0, s1, s2, s3 float64
				for i, wv := range wr {
					wf := float64(wv)
					s0 += x0[i] * wf
					s1 += x1[i] * wf
					s2 += x2[i] * wf
					s3 += x3[i] * wf
				}
				s := [rb]float64{s0, s1, s2, s3}
				for j := range n {
					v := s[j]
					if bias != nil {
						v += float64(bias[o])
					}
					switch ep {
					case EpilogueGELU:
						v = GELU(v)
					case EpilogueResidual:
						v += float64(r[(r0+j)*out+o])
					}
					y[(r0+j)*out+o] = v
				}
			}
		}
	})
	return y
}
