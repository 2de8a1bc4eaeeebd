package gpu

import "fmt"

// attentionPipeline returns the attention pipeline for head size dh and the
// number of queries one workgroup handles.
func (o *Ops) attentionPipeline(dh int) (*Pipeline, int, error) {
	a := o.attn
	if o.variant == VariantGPU {
		p, err := o.pipeline("attention_gpu", uint32(dh), a[0], a[1], a[2])
		return p, int(a[0]), err
	}
	p, err := o.pipeline("attention", uint32(dh), a[0], a[1], a[2])
	return p, int(a[0] * a[1]), err
}

// Attention records fused scaled-dot-product attention. qkv is the packed
// [B*T, 3*H*Dh] output of the QKV projection (q | k | v, head j at columns
// j*Dh within each part); out [B*T, H*Dh] receives, per batch item and head,
// softmax(Q·Kᵀ·scale)·V with the heads merged. The T×T scores stay in
// registers (online softmax). Dh must be a multiple of 4 (at most 256) and
// both args must start 16-byte aligned.
func (o *Ops) Attention(s *Sequence, out, qkv Arg, B, T, H, Dh int, scale float32) error {
	const op = "attention"
	if err := checkDims(op, B, T, 3*H, Dh); err != nil {
		return err
	}
	if Dh%4 != 0 || Dh > 256 {
		return fmt.Errorf("gpu: %s: head size %d must be a multiple of 4 and at most 256", op, Dh)
	}
	if qkv.Offset%16 != 0 || out.Offset%16 != 0 {
		return fmt.Errorf("gpu: %s: qkv and out must start 16-byte aligned (offsets %d, %d)", op, qkv.Offset, out.Offset)
	}
	if err := checkArg(op, "qkv", qkv, int64(B)*int64(T)*int64(3*H*Dh)); err != nil {
		return err
	}
	if err := checkArg(op, "out", out, int64(B)*int64(T)*int64(H*Dh)); err != nil {
		return err
	}
	p, perGroup, err := o.attentionPipeline(Dh)
	if err != nil {
		return err
	}
	groups := [3]uint32{uint32(ceilDiv(T, perGroup)), uint32(H), uint32(B)}
	if err := o.checkGroups(op, groups); err != nil {
		return err
	}
	label := fmt.Sprintf("attention B=%d T=%d H=%d Dh=%d", B, T, H, Dh)
	if err := s.Dispatch(label, p, groups, Push(uint32(T), uint32(H), scale), opRead(qkv), opWrite(out)); err != nil {
		return fmt.Errorf("gpu: %s: %w", label, err)
	}
	return nil
}
