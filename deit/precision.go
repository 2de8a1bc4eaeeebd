package deit

import (
	"fmt"
	"strings"
)

// Precision is the arithmetic an engine runs a model at. It is a property of
// the model run, not of a device: each engine says which precisions it
// supports and maps them to its kernels' element types (docs/precision.md).
type Precision uint8

const (
	// FP32 stores and computes in float32, bit for bit like PyTorch's fp32
	// forward up to summation order. The default (the zero value).
	FP32 Precision = iota
	// FP16 stores weights and the narrow activations (Value.Narrow) as IEEE
	// half floats; every dot product, softmax and LayerNorm statistic
	// accumulates in fp32 and every epilogue runs in fp32 before the one
	// rounding. The GPU engine on devices with 16-bit storage and arithmetic.
	FP16
	// BF16 is FP16's scheme with bfloat16 (8 exponent bits, 8 significand
	// bits) as the narrow type: the format of CPU dot-product instructions
	// such as AVX512_BF16's VDPBF16PS and AMX.
	BF16
	// Auto lets the engine pick the fastest precision the device runs well
	// (see each engine's documentation); an engine never reports Auto.
	Auto
)

// precisionNames are the flag spellings, Auto last.
var precisionNames = [...]string{FP32: "fp32", FP16: "fp16", BF16: "bf16", Auto: "auto"}

// String returns "fp32", "fp16", "bf16" or "auto".
func (p Precision) String() string {
	if int(p) < len(precisionNames) {
		return precisionNames[p]
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses a precision name as the --precision flag takes it:
// "fp32", "fp16", "bf16" or "auto", case-insensitive ("float32", "float16",
// "half" and "bfloat16" are accepted too).
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fp32", "float32", "f32":
		return FP32, nil
	case "fp16", "float16", "half", "f16":
		return FP16, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "auto":
		return Auto, nil
	}
	return 0, fmt.Errorf("unknown precision %q (want %s)", s, strings.Join(precisionNames[:], ", "))
}

// ParsePrecisions parses a comma-separated list of precisions, as bench's
// --precision takes it; duplicates are dropped, order kept.
func ParsePrecisions(list string) ([]Precision, error) {
	var out []Precision
	seen := map[Precision]bool{}
	for _, s := range strings.Split(list, ",") {
		p, err := ParsePrecision(s)
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// Set implements flag.Value (and pflag.Value), so a Precision can be a flag.
func (p *Precision) Set(s string) error {
	v, err := ParsePrecision(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Type implements pflag.Value.
func (p *Precision) Type() string { return "precision" }

// Supported checks that p is one of the precisions an engine supports
// (Auto always is: the engine resolves it). The error names the engine and
// lists what it does support.
func (p Precision) Supported(engine string, supported ...Precision) error {
	if p == Auto {
		return nil
	}
	for _, s := range supported {
		if s == p {
			return nil
		}
	}
	names := make([]string, 0, len(supported)+1)
	for _, s := range supported {
		names = append(names, s.String())
	}
	names = append(names, Auto.String())
	return fmt.Errorf("precision %v: the %s supports %s", p, engine, strings.Join(names, ", "))
}
