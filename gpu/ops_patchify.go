package gpu

import "fmt"

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
