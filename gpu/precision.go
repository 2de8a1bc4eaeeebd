package gpu

import (
	"fmt"
	"strings"
)

// Precision is the arithmetic a model runs at on a device.
type Precision int

const (
	// PrecisionFP32 stores weights and activations as fp32 and computes in
	// fp32: the fp32 kernels, bit for bit as before precisions existed. The
	// default.
	PrecisionFP32 Precision = iota
	// PrecisionFP16 stores weights and activations as fp16 (half the memory
	// traffic) while every dot product, softmax and LayerNorm statistic is
	// accumulated in fp32 and every epilogue (bias, GELU, residual) runs in
	// fp32 before the one rounding to fp16; on devices with cooperative
	// matrices (DeviceInfo.CoopMat) the products run on them.
	PrecisionFP16
	// PrecisionAuto picks per device (see Resolve): fp16 on GPUs with
	// cooperative matrices or fp16 support, fp32 elsewhere.
	PrecisionAuto
)

// String returns "fp32", "fp16" or "auto".
func (p Precision) String() string {
	switch p {
	case PrecisionFP32:
		return "fp32"
	case PrecisionFP16:
		return "fp16"
	case PrecisionAuto:
		return "auto"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses "fp32", "fp16" or "auto" (case-insensitive), the
// values of vkdeit's --precision flag.
func ParsePrecision(s string) (Precision, error) {
	for _, p := range []Precision{PrecisionFP32, PrecisionFP16, PrecisionAuto} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("gpu: unknown precision %q (want fp32, fp16 or auto)", s)
}

// Resolve returns the precision p means on a device, never PrecisionAuto:
// fp32 as is; fp16 where the device has DeviceInfo.FP16, an error wrapping
// ErrUnsupported where not; auto is fp16 on a GPU (any type but DeviceCPU)
// with cooperative matrices or with FP16 (half the bytes of every load, which
// is what GPU kernels wait on), and fp32 on CPU drivers: lavapipe's fp16
// conversions made the whole model slower than fp32 (docs/precision.md), and
// its cooperative matrices are lowered to scalar code.
func (p Precision) Resolve(info DeviceInfo) (Precision, error) {
	switch p {
	case PrecisionFP32:
		return p, nil
	case PrecisionFP16:
		if !info.FP16() {
			return 0, fmt.Errorf("gpu: precision fp16: %s lacks shaderFloat16 or storageBuffer16BitAccess: %w", info.Name, ErrUnsupported)
		}
		return p, nil
	case PrecisionAuto:
		if info.Type != DeviceCPU && (info.CoopMat || info.FP16()) {
			return PrecisionFP16, nil
		}
		return PrecisionFP32, nil
	}
	return 0, fmt.Errorf("gpu: unknown precision %v", p)
}
