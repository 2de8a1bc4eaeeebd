package gpu

import "fmt"

// matmulTile is the matmul_gpu tile used for M rows.
func (o *Ops) matmulTile(M int) [6]uint32 {
	if M <= 256 {
		return o.gpuTileSmall
	}
	return o.gpuTile
}

// matmulPipeline returns the matmul pipeline for an epilogue and M; aligned
// selects the vec4 path of matmul_cpu (K and N multiples of 4, 16-byte
// aligned args).
func (o *Ops) matmulPipeline(ep Epilogue, aligned bool, M int) (*Pipeline, error) {
	if o.variant == VariantGPU {
		t := o.matmulTile(M)
		return o.pipeline("matmul_gpu", uint32(ep), t[0], t[1], t[2], t[3], t[4], t[5])
	}
	al := uint32(0)
	if aligned {
		al = 1
	}
	return o.pipeline("matmul_cpu", uint32(ep), al)
}

// Matmul records C[M,N] = A[M,K]·W[K,N] + bias[N], followed by the epilogue:
// GELU applies the exact erf GELU, Residual adds R[M,N]. W is stored [K,N],
// i.e. an nn.Linear weight [N,K] transposed once at load time. bias may be
// the zero Arg{} (no bias); r is only read for EpilogueResidual and may be
// Arg{} otherwise. c must not overlap a, w or bias; it may be exactly r
// (an in-place residual update x += A·W + b: each element of R is read by
// the invocation that then writes it, and by no other).
func (o *Ops) Matmul(s *Sequence, c, a, w, bias, r Arg, M, N, K int, ep Epilogue) error {
	const op = "matmul"
	if err := checkDims(op, M, K); err != nil {
		return err
	}
	if err := checkDims(op, M, N); err != nil {
		return err
	}
	if err := checkDims(op, K, N); err != nil {
		return err
	}
	if ep > EpilogueResidual {
		return fmt.Errorf("gpu: %s: unknown epilogue %v", op, ep)
	}
	if err := checkArg(op, "C", c, int64(M)*int64(N)); err != nil {
		return err
	}
	if err := checkArg(op, "A", a, int64(M)*int64(K)); err != nil {
		return err
	}
	if err := checkArg(op, "W", w, int64(K)*int64(N)); err != nil {
		return err
	}
	flags := uint32(0)
	if bias.Buf != nil {
		if err := checkArg(op, "bias", bias, int64(N)); err != nil {
			return err
		}
		flags |= 1
	} else {
		bias = a // bound but never read
	}
	if ep == EpilogueResidual {
		if err := checkArg(op, "R", r, int64(M)*int64(N)); err != nil {
			return err
		}
	} else {
		r = a // bound but never read
	}
	aligned := K%4 == 0 && N%4 == 0 && a.Offset%16 == 0 && w.Offset%16 == 0
	p, err := o.matmulPipeline(ep, aligned, M)
	if err != nil {
		return err
	}
	var groups [3]uint32
	if o.variant == VariantGPU {
		t := o.matmulTile(M)
		groups = [3]uint32{uint32(ceilDiv(N, int(t[1]))), uint32(ceilDiv(M, int(t[0]))), 1}
	} else {
		groups = [3]uint32{uint32(ceilDiv(N, 64)), uint32(ceilDiv(M, 8)), 1}
	}
	if err := o.checkGroups(op, groups); err != nil {
		return err
	}
	label := fmt.Sprintf("matmul %dx%dx%d %v", M, N, K, ep)
	err = s.Dispatch(label, p, groups, Push(uint32(M), uint32(N), uint32(K), flags),
		opRead(a), opRead(w), opRead(bias), opRead(r), opWrite(c))
	if err != nil {
		return fmt.Errorf("gpu: %s: %w", label, err)
	}
	return nil
}
