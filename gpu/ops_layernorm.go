package gpu

import "fmt"

// LayerNorm records out[r,:] = (in[r,:] − mean)/sqrt(var + eps)·gamma + beta
// for rows rows of D values (biased variance, one workgroup per row). in,
// gamma and beta are F32; out is F32 or F16 (rounded once; the statistics
// are fp32 either way).
func (o *Ops) LayerNorm(s *Sequence, out, in, gamma, beta Arg, rows, D int, eps float32) error {
	const op = "layernorm"
	if err := checkDims(op, rows, D); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		a    Arg
	}{{"in", in}, {"gamma", gamma}, {"beta", beta}} {
		if err := checkType(op, c.name, c.a, F32); err != nil {
			return err
		}
	}
	if err := checkType(op, "out", out, F32, F16); err != nil {
		return err
	}
	name := "layernorm"
	if out.Type == F16 {
		if err := o.needFP16(op); err != nil {
			return err
		}
		name = "layernorm_f16"
	}
	if !(eps >= 0) {
		return fmt.Errorf("gpu: %s: eps %g must be non-negative", op, eps)
	}
	n := int64(rows) * int64(D)
	for _, c := range []struct {
		name string
		a    Arg
		n    int64
	}{{"out", out, n}, {"in", in, n}, {"gamma", gamma, int64(D)}, {"beta", beta, int64(D)}} {
		if err := checkArg(op, c.name, c.a, c.n); err != nil {
			return err
		}
	}
	p, err := o.pipeline(name, o.lnWG)
	if err != nil {
		return err
	}
	groups, err := o.groups2D(op, int64(rows))
	if err != nil {
		return err
	}
	label := fmt.Sprintf("layernorm %dx%d", rows, D)
	if out.Type == F16 {
		label += " ->f16"
	}
	return s.Dispatch(label, p, groups, Push(uint32(rows), uint32(D), eps),
		opRead(in), opRead(gamma), opRead(beta), opWrite(out))
}
