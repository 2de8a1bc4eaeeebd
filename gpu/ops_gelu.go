package gpu

import "fmt"

// GELU records out[i] = gelu(in[i]) = 0.5·x·(1 + erf(x/√2)) for i < n, the
// same function as Matmul's EpilogueGELU.
func (o *Ops) GELU(s *Sequence, out, in Arg, n int) error {
	const op = "gelu"
	if err := checkDims(op, n); err != nil {
		return err
	}
	if err := checkType(op, "in", in, F32); err != nil {
		return err
	}
	if err := checkType(op, "out", out, F32); err != nil {
		return err
	}
	if err := checkArg(op, "out", out, int64(n)); err != nil {
		return err
	}
	if err := checkArg(op, "in", in, int64(n)); err != nil {
		return err
	}
	return o.elementwise(s, op, fmt.Sprintf("gelu %d", n), int64(n), Push(uint32(n)), opRead(in), opWrite(out))
}
