package gpu

import "fmt"

// LayerNorm records out[r,:] = (in[r,:] − mean)/sqrt(var + eps)·gamma + beta
// for rows rows of D values (biased variance, one workgroup per row).
func (o *Ops) LayerNorm(s *Sequence, out, in, gamma, beta Arg, rows, D int, eps float32) error {
	const op = "layernorm"
	if err := checkDims(op, rows, D); err != nil {
		return err
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
	p, err := o.pipeline("layernorm", o.lnWG)
	if err != nil {
		return err
	}
	groups, err := o.groups2D(op, int64(rows))
	if err != nil {
		return err
	}
	label := fmt.Sprintf("layernorm %dx%d", rows, D)
	err = s.Dispatch(label, p, groups, Push(uint32(rows), uint32(D), eps),
		opRead(in), opRead(gamma), opRead(beta), opWrite(out))
	if err != nil {
		return fmt.Errorf("gpu: %s: %w", label, err)
	}
	return nil
}

// elementwise dispatches a 256-wide, one-element-per-invocation kernel over n
// outputs.
func (o *Ops) elementwise(s *Sequence, name, label string, n int64, push []byte, args ...Arg) error {
	p, err := o.pipeline(name)
	if err != nil {
		return err
	}
	groups, err := o.groups2D(name, (n+255)/256)
	if err != nil {
		return err
	}
	if err := s.Dispatch(label, p, groups, push, args...); err != nil {
		return fmt.Errorf("gpu: %s: %w", label, err)
	}
	return nil
}

// GELU records out[i] = gelu(in[i]) = 0.5·x·(1 + erf(x/√2)) for i < n, the
// same function as Matmul's EpilogueGELU.
func (o *Ops) GELU(s *Sequence, out, in Arg, n int) error {
	const op = "gelu"
	if err := checkDims(op, n); err != nil {
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

// Patchify records the im2col of a stride = kernel = P convolution: pixels
// [B,C,H,W] → out [B*Gh*Gw, C*P*P] with Gh = H/P, Gw = W/P (remainders
// dropped), columns ordered (c, ky, kx) and rows (b, py, px), so that the
// patch embedding is one Matmul with the conv weight flattened and transposed.
func (o *Ops) Patchify(s *Sequence, out, pixels Arg, B, C, H, W, P int) error {
	const op = "patchify"
	if err := checkDims(op, B, C, H, W); err != nil {
		return err
	}
	if P <= 0 || P > H || P > W {
		return fmt.Errorf("gpu: %s: patch size %d does not fit a %dx%d image", op, P, H, W)
	}
	gh, gw := H/P, W/P
	n := int64(B) * int64(gh*gw) * int64(C*P*P)
	if n > maxElems {
		return fmt.Errorf("gpu: %s: %d outputs exceed 32-bit indexing", op, n)
	}
	if err := checkArg(op, "pixels", pixels, int64(B)*int64(C)*int64(H)*int64(W)); err != nil {
		return err
	}
	if err := checkArg(op, "out", out, n); err != nil {
		return err
	}
	label := fmt.Sprintf("patchify B=%d %dx%dx%d P=%d", B, C, H, W, P)
	push := Push(uint32(n), uint32(C), uint32(H), uint32(W), uint32(P), uint32(gh), uint32(gw))
	return o.elementwise(s, op, label, n, push, opRead(pixels), opWrite(out))
}

// Tokens records the transformer input: out[b*T + t, :] = (t < S ?
// special[t,:] : patches[b*(T−S) + t−S, :]) + pos[t,:], with special [S,D]
// (may be Arg{} when S = 0), patches [B*(T−S), D], pos [T,D], out [B*T, D].
func (o *Ops) Tokens(s *Sequence, out, patches, special, pos Arg, B, T, S, D int) error {
	const op = "tokens"
	if err := checkDims(op, B, T, D); err != nil {
		return err
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

// GatherRows records out[b*S + i, :] = in[b*T + i, :] for i < S: the first S
// rows (the special tokens) of every batch item, in [B*T, D] → out [B*S, D].
func (o *Ops) GatherRows(s *Sequence, out, in Arg, B, T, S, D int) error {
	const op = "gatherrows"
	if err := checkDims(op, B, T, S, D); err != nil {
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
