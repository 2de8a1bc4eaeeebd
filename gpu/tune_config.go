package gpu

import "fmt"

// Design is a kernel design of the matmul and attention families: which
// shader runs (shaders/<op>_<design>.comp).
type Design string

const (
	// DesignRegBlock: register blocks, no shared memory (CPU Vulkan drivers).
	DesignRegBlock Design = "regblock"
	// DesignTiled: shared-memory tiles (GPUs).
	DesignTiled Design = "tiled"
	// DesignCoopMat: cooperative matrices (tensor cores; fp16 only).
	DesignCoopMat Design = "coopmat"
)

// Op names the kernel families the tuner chooses configurations for.
const (
	OpMatmul    = "matmul"
	OpAttention = "attention"
)

// KernelConfig is one way to run a matmul or an attention: the design and
// its tiling, i.e. the specialization constants the design's shader takes
// (unused trailing entries are zero):
//
//	matmul    regblock  — (fixed 8×64 blocks)
//	matmul    tiled     BM, BN, BK, TM, TN, WG  (WG/((BM/TM)·(BN/TN)) K slices: split-K inside a workgroup)
//	matmul    coopmat   SGM, SGN, RM, RN, BK, WG
//	attention regblock  QB, LANES, KB
//	attention tiled     BQ, KPT                 (WG = 4·BQ)
//	attention coopmat   BQ, BKV, WG
//
// Ops picks a configuration per shape: the tuned one when the device's
// tuning has the shape (Device.Tuning), else the built-in heuristic.
type KernelConfig struct {
	Op     string    `json:"op"`
	Design Design    `json:"design"`
	Tile   [6]uint32 `json:"tile"`
}

// String describes the configuration, e.g. "tiled 64x64x16 4x4 wg256",
// "coopmat 2x2 sg 2x2 acc bk32 wg128", "regblock 8q 8l kb8".
func (c KernelConfig) String() string {
	t := c.Tile
	switch {
	case c.Op == OpMatmul && c.Design == DesignRegBlock:
		return "regblock 8x64"
	case c.Op == OpMatmul && c.Design == DesignTiled:
		return fmt.Sprintf("tiled %dx%dx%d %dx%d wg%d", t[0], t[1], t[2], t[3], t[4], t[5])
	case c.Op == OpMatmul && c.Design == DesignCoopMat:
		return fmt.Sprintf("coopmat %dx%d sg %dx%d acc bk%d wg%d", t[0], t[1], t[2], t[3], t[4], t[5])
	case c.Op == OpAttention && c.Design == DesignRegBlock:
		return fmt.Sprintf("regblock %dq %dl kb%d", t[0], t[1], t[2])
	case c.Op == OpAttention && c.Design == DesignTiled:
		return fmt.Sprintf("tiled bq%d kpt%d", t[0], t[1])
	case c.Op == OpAttention && c.Design == DesignCoopMat:
		return fmt.Sprintf("coopmat bq%d bkv%d wg%d", t[0], t[1], t[2])
	}
	return fmt.Sprintf("%s %s %v", c.Op, c.Design, t)
}

// Shape is one matmul or attention the tuner measures and the tuning is
// keyed by: for OpMatmul C[M,N] = A[M,K]·W[K,N] with A and W of type In and
// C of type Out; for OpAttention B images of T tokens, H heads of size Dh,
// qkv and out of type In (= Out). Epilogue is what a matmul is timed with
// (it does not enter the key: it costs the same in every tiling).
type Shape struct {
	Op          string   `json:"op"`
	M           int      `json:"m,omitempty"`
	N           int      `json:"n,omitempty"`
	K           int      `json:"k,omitempty"`
	B           int      `json:"b,omitempty"`
	T           int      `json:"t,omitempty"`
	H           int      `json:"h,omitempty"`
	Dh          int      `json:"dh,omitempty"`
	In          DType    `json:"in"`
	Out         DType    `json:"out"`
	Epilogue    Epilogue `json:"epilogue"`
	Description string   `json:"-"` // what it is in the model, e.g. "fc1 at batch 8" (progress and tables only)
}

// MatmulShape is the Shape of an M×N×K product with A and W of type in and
// C of type out.
func MatmulShape(M, N, K int, in, out DType, ep Epilogue) Shape {
	return Shape{Op: OpMatmul, M: M, N: N, K: K, In: in, Out: out, Epilogue: ep}
}

// AttentionShape is the Shape of an attention over B images of T tokens
// with H heads of size Dh, qkv and out of type t.
func AttentionShape(B, T, H, Dh int, t DType) Shape {
	return Shape{Op: OpAttention, B: B, T: T, H: H, Dh: Dh, In: t, Out: t}
}

// Key is the shape's identity in a tuning: e.g. "matmul 198x1152x384
// f16->f16", "attention 8x198x6x64 f32".
func (s Shape) Key() string {
	if s.Op == OpAttention {
		return fmt.Sprintf("attention %dx%dx%dx%d %v", s.B, s.T, s.H, s.Dh, s.In)
	}
	return fmt.Sprintf("matmul %dx%dx%d %v->%v", s.M, s.N, s.K, s.In, s.Out)
}

// FLOPs is the shape's floating-point operation count: 2·M·N·K for a
// product, 4·B·H·T²·Dh for attention (Q·Kᵀ and P·V).
func (s Shape) FLOPs() float64 {
	if s.Op == OpAttention {
		return 4 * float64(s.B) * float64(s.H) * float64(s.T) * float64(s.T) * float64(s.Dh)
	}
	return 2 * float64(s.M) * float64(s.N) * float64(s.K)
}

// check reports a shape the ops would reject.
func (s Shape) check() error {
	switch s.Op {
	case OpMatmul:
		if err := checkDims("tune", s.M, s.N, s.K); err != nil {
			return err
		}
		if s.In > F16 || s.Out > F16 || (s.In == F32 && s.Out == F16) {
			return fmt.Errorf("gpu: tune: %s: unsupported element types", s.Key())
		}
	case OpAttention:
		if err := checkDims("tune", s.B, s.T, 3, s.H, s.Dh); err != nil {
			return err
		}
		if s.Dh%4 != 0 || s.Dh > 256 || s.In > F16 {
			return fmt.Errorf("gpu: tune: %s: head size must be a multiple of 4 up to 256", s.Key())
		}
	default:
		return fmt.Errorf("gpu: tune: unknown op %q", s.Op)
	}
	return nil
}

// withConfig returns a copy of o that runs every matmul or attention
// (c.Op) with c, whatever the shape: the tuner's way of timing one
// candidate with the very code path the engine records.
func (o *Ops) withConfig(c KernelConfig) *Ops {
	cp := *o
	switch c.Op {
	case OpMatmul:
		cp.forceMatmul = &c
	case OpAttention:
		cp.forceAttention = &c
	}
	return &cp
}

// MatmulConfig is the configuration Matmul runs an M×N×K product with (A
// and W of type in, C of type out), and whether it comes from the tuning
// (false: the heuristic).
func (o *Ops) MatmulConfig(M, N, K int, in, out DType) (KernelConfig, bool, error) {
	return o.matmulConfig(MatmulShape(M, N, K, in, out, EpilogueNone))
}

// AttentionConfig is the configuration Attention runs with, and whether it
// comes from the tuning (false: the heuristic).
func (o *Ops) AttentionConfig(B, T, H, Dh int, t DType) (KernelConfig, bool, error) {
	return o.attentionConfig(AttentionShape(B, T, H, Dh, t))
}

// matmulConfig picks s's configuration: the forced one (tuner), the tuned
// one when usable here, else the heuristic.
func (o *Ops) matmulConfig(s Shape) (KernelConfig, bool, error) {
	half := s.In == F16
	if o.forceMatmul != nil {
		return *o.forceMatmul, false, o.checkMatmulConfig(*o.forceMatmul, half)
	}
	if c, ok := o.tuned[s.Key()]; ok && c.Op == OpMatmul && o.checkMatmulConfig(c, half) == nil {
		return c, true, nil
	}
	c, err := o.matmulHeuristic(s.M, s.N, half)
	return c, false, err
}

// attentionConfig is matmulConfig for attention.
func (o *Ops) attentionConfig(s Shape) (KernelConfig, bool, error) {
	half := s.In == F16
	if o.forceAttention != nil {
		return *o.forceAttention, false, o.checkAttentionConfig(*o.forceAttention, s.Dh, half)
	}
	if c, ok := o.tuned[s.Key()]; ok && c.Op == OpAttention && o.checkAttentionConfig(c, s.Dh, half) == nil {
		return c, true, nil
	}
	c, err := o.attentionHeuristic(s.Dh, half)
	return c, false, err
}
