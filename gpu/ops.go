package gpu

import (
	"fmt"
	"math"

	"github.com/vkdeit/vkdeit/shaders"
)

// Epilogue selects what Matmul does to each output element after the
// product and the bias. Its values are the shaders' EPI specialization
// constant.
type Epilogue uint32

const (
	// EpilogueNone stores A·W + bias.
	EpilogueNone Epilogue = 0
	// EpilogueGELU stores gelu(A·W + bias), the exact erf GELU.
	EpilogueGELU Epilogue = 1
	// EpilogueResidual stores R + A·W + bias (a residual connection).
	EpilogueResidual Epilogue = 2
)

// String returns the epilogue's name.
func (e Epilogue) String() string {
	switch e {
	case EpilogueNone:
		return "none"
	case EpilogueGELU:
		return "gelu"
	case EpilogueResidual:
		return "residual"
	}
	return fmt.Sprintf("Epilogue(%d)", uint32(e))
}

// Variant is the kernel design Ops records, named for how the kernels
// work, not for where they run best. CPU Vulkan drivers (lavapipe) and real
// GPUs want opposite designs: register blocks and 8-lane workgroups without
// shared memory on a CPU driver, shared-memory tiles and large workgroups on
// a GPU.
type Variant int

const (
	// VariantAuto picks VariantRegBlock for DeviceCPU devices and VariantTiled
	// otherwise.
	VariantAuto Variant = iota
	// VariantRegBlock uses matmul_regblock (8×8 register blocks per lane, no shared
	// memory) and 8-lane attention and layernorm workgroups.
	VariantRegBlock
	// VariantTiled uses matmul_tiled (shared-memory tiles) and large workgroups.
	VariantTiled
)

// String returns the variant's name.
func (v Variant) String() string {
	switch v {
	case VariantAuto:
		return "auto"
	case VariantRegBlock:
		return "regblock"
	case VariantTiled:
		return "tiled"
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

// Ops records vkdeit's kernels into Sequences. It holds only immutable
// kernel descriptions and tunings (pipelines are cached by the Device), so
// one Ops may be used from several goroutines, each with its own Sequence.
type Ops struct {
	d       *Device
	variant Variant
	k       map[string]Kernel

	// forcedTile, when non-zero, replaces the per-shape matmul_tiled tile
	// choice (BM, BN, BK, TM, TN, WG; tests and benchmarks only).
	forcedTile [6]uint32
	// attention spec constants after DH. VariantRegBlock (attention_regblock.comp):
	// queries per invocation, invocations per workgroup, key block.
	// VariantTiled picks its attention_tiled tile per head size; a non-zero
	// (BQ, KPT, 4·BQ) here forces one (tests and benchmarks only).
	attn [3]uint32
	// layernorm workgroup size (a power of two).
	lnWG uint32

	// coopmat is set when fp16 matmuls and attention run on cooperative
	// matrices of shape cm (DeviceInfo.CoopMat; see ops_matmul_coopmat.go).
	coopmat bool
	cm      CoopMatShape
	// cmTile and cmAttn, when non-zero, force the matmul_coopmat and
	// attention_coopmat tilings (tests only).
	cmTile coopMatmulTile
	cmAttn coopAttentionTile

	// tuned holds the device's tuning (Device.Tuning) when the Ops was
	// made, by Shape.Key; forceMatmul and forceAttention, when set, replace
	// every choice (the tuner timing one candidate; see tune_config.go).
	tuned                       map[string]KernelConfig
	forceMatmul, forceAttention *KernelConfig
}

// kernelDefs lists every kernel with its binding count and push-constant
// bytes; they must match the shader headers in shaders/*.comp.
var kernelDefs = []struct {
	name     string
	bindings int
	push     int
}{
	{"matmul_regblock", 5, 16},
	{"matmul_tiled", 5, 16},
	{"attention_regblock", 2, 12},
	{"attention_tiled", 2, 12},
	{"layernorm", 4, 12},
	{"gelu", 2, 4},
	{"patchify", 2, 28},
	{"tokens", 4, 16},
	{"gatherrows", 2, 16},
	{"attention_probs", 2, 12},
	// fp16 storage (shaders/variants) and cooperative matrices.
	{"matmul_regblock_f16", 5, 16},
	{"matmul_tiled_f16", 5, 16},
	{"matmul_coopmat", 5, 16},
	{"attention_regblock_f16", 2, 12},
	{"attention_tiled_f16", 2, 12},
	{"attention_coopmat", 2, 12},
	{"layernorm_f16", 4, 12},
	{"patchify_f16", 2, 28},
	{"attention_probs_f16", 2, 12},
}

// NewOps loads the kernels and builds the pipelines used by every model,
// choosing the matmul design by device class (VariantAuto).
func NewOps(d *Device) (*Ops, error) {
	return NewOpsVariant(d, VariantAuto)
}

// NewOpsVariant is NewOps with an explicit kernel variant, so that both
// designs can be tested (and compared) on any device.
func NewOpsVariant(d *Device, v Variant) (*Ops, error) {
	if d == nil {
		return nil, fmt.Errorf("gpu: NewOps: nil device")
	}
	if v == VariantAuto {
		v = VariantTiled
		if d.Info().Type == DeviceCPU {
			v = VariantRegBlock
		}
	}
	o := &Ops{d: d, variant: v, k: make(map[string]Kernel, len(kernelDefs)), tuned: d.Tuning().Configs()}
	switch v {
	case VariantRegBlock:
		// Measured on lavapipe (Mesa 22.3, 2 cores): 8 queries × 8 lanes
		// with 8-key blocks runs DeiT-small attention at ~20 GFLOPS.
		o.attn = [3]uint32{8, 8, 8}
		o.lnWG = 8
	case VariantTiled:
		// Matmul tiles are chosen per shape (matmulTile), attention tiles
		// per head size (tiledAttentionTile).
		o.lnWG = 256
	default:
		return nil, fmt.Errorf("gpu: NewOps: unknown variant %v", v)
	}
	info := d.Info()
	if lim := info.MaxWorkgroupInvocations; lim != 0 {
		if o.lnWG > lim {
			o.lnWG = 1
			for o.lnWG*2 <= lim {
				o.lnWG *= 2
			}
		}
		need := o.attn[1]
		if v == VariantTiled {
			need = 256 // every matmul_tiled tile; attention_tiled uses 4·BQ ≤ 128
		}
		if need > lim {
			return nil, fmt.Errorf("gpu: NewOps: %s allows %d invocations per workgroup, variant %v needs %d",
				info.Name, lim, v, need)
		}
	}
	for _, kd := range kernelDefs {
		code, err := shaders.SPIRV(kd.name)
		if err != nil {
			return nil, fmt.Errorf("gpu: NewOps: %w", err)
		}
		o.k[kd.name] = Kernel{Name: kd.name, SPIRV: code, Bindings: kd.bindings, PushBytes: kd.push}
	}
	if info.CoopMat {
		o.cm, o.coopmat = pickCoopMat(info.HalfFloatShapes())
	}
	// Build the pipelines every transformer uses now, so shader problems
	// surface here and not in the middle of recording (the fp16 ones are
	// built on first use: fp32 models never pay for them).
	for _, ep := range []Epilogue{EpilogueNone, EpilogueGELU, EpilogueResidual} {
		for _, M := range []int{1, 1024} {
			if _, err := o.matmulPipeline(ep, true, M); err != nil {
				return nil, err
			}
		}
	}
	if _, _, err := o.attentionPipeline(64); err != nil {
		return nil, err
	}
	for _, name := range []string{"layernorm", "gelu", "patchify", "tokens", "gatherrows"} {
		if _, err := o.pipeline(name); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Variant reports the kernel variant in use (never VariantAuto).
func (o *Ops) Variant() Variant { return o.variant }

// CoopMat reports the cooperative-matrix shape the fp16 matmul and
// attention kernels run on, and whether they do (false: plain fp16
// arithmetic, or fp32 data).
func (o *Ops) CoopMat() (CoopMatShape, bool) { return o.cm, o.coopmat }

// b2u is 1 for true, 0 for false (specialization constants).
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// pipeline returns the (device-cached) pipeline of a kernel with the given
// specialization constants.
func (o *Ops) pipeline(name string, spec ...uint32) (*Pipeline, error) {
	return o.d.Pipeline(o.k[name], spec...)
}

// argBytes is the number of bytes an Arg covers.
func argBytes(a Arg) int64 {
	if a.Size > 0 {
		return a.Size
	}
	return a.Buf.Size() - a.Offset
}

// checkArg verifies that a covers at least n values of its Type.
func checkArg(op, name string, a Arg, n int64) error {
	if a.Buf == nil {
		return fmt.Errorf("gpu: %s: %s: no buffer", op, name)
	}
	if a.Size < 0 || !within(a.Offset, argBytes(a), a.Buf.Size()) {
		return fmt.Errorf("gpu: %s: %s: range [%d, +%d) outside a %d-byte buffer",
			op, name, a.Offset, a.Size, a.Buf.Size())
	}
	if a.Type > F16 {
		return fmt.Errorf("gpu: %s: %s: unknown element type %v", op, name, a.Type)
	}
	if got, sz := argBytes(a), a.Type.Size(); got < sz*n {
		return fmt.Errorf("gpu: %s: %s holds %d bytes, needs %d (%d %v values)", op, name, got, sz*n, n, a.Type)
	}
	return nil
}

// checkType requires a's element type to be one of want.
func checkType(op, name string, a Arg, want ...DType) error {
	for _, t := range want {
		if a.Type == t {
			return nil
		}
	}
	if len(want) == 1 {
		return fmt.Errorf("gpu: %s: %s is %v, must be %v", op, name, a.Type, want[0])
	}
	return fmt.Errorf("gpu: %s: %s is %v, must be one of %v", op, name, a.Type, want)
}

// needFP16 reports an error when the device cannot run fp16 kernels.
func (o *Ops) needFP16(op string) error {
	if !o.d.info.FP16() {
		return fmt.Errorf("gpu: %s: fp16 buffers need shaderFloat16 and storageBuffer16BitAccess, which %s lacks", op, o.d.info.Name)
	}
	return nil
}

// maxElems bounds every tensor a kernel indexes: shaders use 32-bit indices.
const maxElems = math.MaxUint32 / 4

// checkDims requires every dimension to be positive and their product to
// fit 32-bit shader indices (at most maxElems).
func checkDims(op string, dims ...int) error {
	prod := int64(1)
	for _, v := range dims {
		if v <= 0 {
			return fmt.Errorf("gpu: %s: dimensions %v must be positive", op, dims)
		}
		// Compare before multiplying: a huge v would wrap the product.
		if int64(v) > maxElems/prod {
			return fmt.Errorf("gpu: %s: dimensions %v exceed 32-bit indexing", op, dims)
		}
		prod *= int64(v)
	}
	return nil
}

// groups2D spreads n workgroups over x and y so neither exceeds the device
// limit; kernels recover the linear index as y·X + x and skip the excess.
func (o *Ops) groups2D(op string, n int64) ([3]uint32, error) {
	maxX := int64(o.d.Info().MaxWorkgroupCount[0])
	maxY := int64(o.d.Info().MaxWorkgroupCount[1])
	if maxX <= 0 {
		maxX = 65535
	}
	if maxY <= 0 {
		maxY = 65535
	}
	x := n
	if x > maxX {
		x = maxX
	}
	y := (n + x - 1) / x
	if y > maxY {
		return [3]uint32{}, fmt.Errorf("gpu: %s: %d workgroups exceed the device limit", op, n)
	}
	return [3]uint32{uint32(x), uint32(y), 1}, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// opRead marks an Arg as read by a dispatch, whatever the caller passed.
func opRead(a Arg) Arg { a.Write = false; return a }

// opWrite marks an Arg as written by a dispatch.
func opWrite(a Arg) Arg { a.Write = true; return a }

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
	return s.Dispatch(label, p, groups, push, args...)
}
