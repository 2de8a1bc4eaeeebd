package gpu

import "fmt"

// Patchify records the im2col of a stride = kernel = P convolution: pixels
// [B,C,H,W] → out [B*Gh*Gw, C*P*P] with Gh = H/P, Gw = W/P (remainders
// dropped), columns ordered (c, ky, kx) and rows (b, py, px), so that the
// patch embedding is one Matmul with the conv weight flattened and transposed.
// pixels are F32; out is F32, or F16 for an fp16 patch embedding (each pixel
// rounded once: the input's conversion to fp16 happens here).
func (o *Ops) Patchify(s *Sequence, out, pixels Arg, B, C, H, W, P int) error {
	const op = "patchify"
	if err := checkDims(op, B, C, H, W); err != nil {
		return err
	}
	if err := checkType(op, "pixels", pixels, F32); err != nil {
		return err
	}
	if err := checkType(op, "out", out, F32, F16); err != nil {
		return err
	}
	name, suffix := op, ""
	if out.Type == F16 {
		if err := o.needFP16(op); err != nil {
			return err
		}
		name, suffix = "patchify_f16", " ->f16"
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
	label := fmt.Sprintf("patchify B=%d %dx%dx%d P=%d%s", B, C, H, W, P, suffix)
	push := Push(uint32(n), uint32(C), uint32(H), uint32(W), uint32(P), uint32(gh), uint32(gw))
	return o.elementwise(s, name, label, n, push, opRead(pixels), opWrite(out))
}
