package gpu

import "fmt"

// attentionProbsLanes is attention_probs.comp's workgroup size (queries per
// workgroup): one query row per invocation.
const attentionProbsLanes = 64

// AttentionProbs records the attention probabilities of every batch item,
// head and query: out [B, H, T, T] (row (b·H + h)·T + t, fp32) receives
// softmax(scale·q·kᵀ) over the T keys, with qkv the packed [B*T, 3*H*Dh]
// output of the QKV projection that Attention reads (F32, or F16 converted
// to fp32 as loaded; the scores and softmax are fp32 either way). The fused
// attention kernels never store these; this op exists for attention maps.
// Dh must be a multiple of 4 (at most 256) and qkv must start aligned to
// one vec4 of its element type.
func (o *Ops) AttentionProbs(s *Sequence, out, qkv Arg, B, T, H, Dh int, scale float32) error {
	const op = "attentionprobs"
	// T twice: the output is B·H·T·T values.
	if err := checkDims(op, B, T, T, 3, H, Dh); err != nil {
		return err
	}
	if Dh%4 != 0 || Dh > 256 {
		return fmt.Errorf("gpu: %s: head size %d must be a multiple of 4 and at most 256", op, Dh)
	}
	if err := checkType(op, "qkv", qkv, F32, F16); err != nil {
		return err
	}
	if err := checkType(op, "out", out, F32); err != nil {
		return err
	}
	name, kind := "attention_probs", ""
	if qkv.Type == F16 {
		if err := o.needFP16(op); err != nil {
			return err
		}
		name, kind = "attention_probs_f16", " f16"
	}
	if al := 4 * qkv.Type.Size(); qkv.Offset%al != 0 {
		return fmt.Errorf("gpu: %s: qkv must start %d-byte aligned (offset %d)", op, al, qkv.Offset)
	}
	if err := checkArg(op, "qkv", qkv, int64(B)*int64(T)*int64(3*H*Dh)); err != nil {
		return err
	}
	if err := checkArg(op, "out", out, int64(B)*int64(H)*int64(T)*int64(T)); err != nil {
		return err
	}
	p, err := o.pipeline(name, uint32(Dh), attentionProbsLanes)
	if err != nil {
		return err
	}
	groups := [3]uint32{uint32(ceilDiv(T, attentionProbsLanes)), uint32(H), uint32(B)}
	label := fmt.Sprintf("attentionprobs B=%d T=%d H=%d Dh=%d%s", B, T, H, Dh, kind)
	return s.Dispatch(label, p, groups, Push(uint32(T), uint32(H), scale), opRead(qkv), opWrite(out))
}
