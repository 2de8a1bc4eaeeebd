package gpu

import "fmt"

// GatherRows records out[b*S + i, :] = in[b*T + i, :] for i < S: the first S
// rows (the special tokens) of every batch item, in [B*T, D] → out [B*S, D].
func (o *Ops) GatherRows(s *Sequence, out, in Arg, B, T, S, D int) error {
	const op = "gatherrows"
	if err := checkDims(op, B, T, S, D); err != nil {
		return err
	}
	if err := checkType(op, "in", in, F32); err != nil {
		return err
	}
	if err := checkType(op, "out", out, F32); err != nil {
		return err
	}
	if S > T {
		return fmt.Errorf("gpu: %s: %d rows requested from %d", op, S, T)
	}
	n := int64(B) * int64(S) * int64(D)
	if err := checkArg(op, "in", in, int64(B)*int64(T)*int64(D)); err != nil {
		return err
	}
	if err := checkArg(op, "out", out, n); err != nil {
		return err
	}
	label := fmt.Sprintf("gatherrows B=%d T=%d S=%d D=%d", B, T, S, D)
	return o.elementwise(s, op, label, n, Push(uint32(n), uint32(T), uint32(S), uint32(D)), opRead(in), opWrite(out))
}
