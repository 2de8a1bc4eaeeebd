package gpu

import "fmt"

// Tokens records the transformer input: out[b*T + t, :] = (t < S ?
// special[t,:] : patches[b*(T−S) + t−S, :]) + pos[t,:], with special [S,D]
// (may be Arg{} when S = 0), patches [B*(T−S), D], pos [T,D], out [B*T, D].
func (o *Ops) Tokens(s *Sequence, out, patches, special, pos Arg, B, T, S, D int) error {
	const op = "tokens"
	if err := checkDims(op, B, T, D); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		a    Arg
	}{{"out", out}, {"patches", patches}, {"special", special}, {"pos", pos}} {
		if err := checkType(op, c.name, c.a, F32); err != nil {
			return err
		}
	}
	if S < 0 || S >= T {
		return fmt.Errorf("gpu: %s: %d special tokens out of %d", op, S, T)
	}
	n := int64(B) * int64(T) * int64(D)
	if err := checkArg(op, "out", out, n); err != nil {
		return err
	}
	if err := checkArg(op, "patches", patches, int64(B)*int64(T-S)*int64(D)); err != nil {
		return err
	}
	if err := checkArg(op, "pos", pos, int64(T)*int64(D)); err != nil {
		return err
	}
	if S > 0 {
		if err := checkArg(op, "special", special, int64(S)*int64(D)); err != nil {
			return err
		}
	} else {
		special = pos // bound but never read
	}
	label := fmt.Sprintf("tokens B=%d T=%d S=%d D=%d", B, T, S, D)
	push := Push(uint32(n), uint32(T), uint32(S), uint32(D))
	return o.elementwise(s, op, label, n, push, opRead(patches), opRead(special), opRead(pos), opWrite(out))
}
