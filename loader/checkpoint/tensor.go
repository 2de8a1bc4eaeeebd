package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Tensor is one named array from a checkpoint. Whatever the stored element
// type (F32, F16, BF16, F64, integers), Data holds the values converted to
// float32, row-major and contiguous, so callers never deal with dtypes,
// strides or byte order. len(Data) is the product of Shape (1 for a scalar,
// whose Shape is empty).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// tensorDtype is a stored element type, shared by the safetensors and PyTorch
// readers.
type tensorDtype int

const (
	dtInvalid tensorDtype = iota
	dtBool
	dtU8
	dtI8
	dtF8E5M2
	dtF8E4M3
	dtI16
	dtU16
	dtF16
	dtBF16
	dtI32
	dtU32
	dtF32
	dtF64
	dtI64
	dtU64
)

// tensorMaxElems bounds the element count of any single tensor so that the
// size arithmetic (elements × 8 bytes) can never overflow int64, and so that
// the count fits an int on every platform Go supports well.
const tensorMaxElems = math.MaxInt32 * 8

// tensorDtypeFromName maps a safetensors dtype string to a tensorDtype.
func tensorDtypeFromName(s string) (tensorDtype, bool) {
	switch s {
	case "BOOL":
		return dtBool, true
	case "U8":
		return dtU8, true
	case "I8":
		return dtI8, true
	case "F8_E5M2":
		return dtF8E5M2, true
	case "F8_E4M3":
		return dtF8E4M3, true
	case "I16":
		return dtI16, true
	case "U16":
		return dtU16, true
	case "F16":
		return dtF16, true
	case "BF16":
		return dtBF16, true
	case "I32":
		return dtI32, true
	case "U32":
		return dtU32, true
	case "F32":
		return dtF32, true
	case "F64":
		return dtF64, true
	case "I64":
		return dtI64, true
	case "U64":
		return dtU64, true
	}
	return dtInvalid, false
}

// String returns the safetensors spelling of d.
func (d tensorDtype) String() string {
	switch d {
	case dtBool:
		return "BOOL"
	case dtU8:
		return "U8"
	case dtI8:
		return "I8"
	case dtF8E5M2:
		return "F8_E5M2"
	case dtF8E4M3:
		return "F8_E4M3"
	case dtI16:
		return "I16"
	case dtU16:
		return "U16"
	case dtF16:
		return "F16"
	case dtBF16:
		return "BF16"
	case dtI32:
		return "I32"
	case dtU32:
		return "U32"
	case dtF32:
		return "F32"
	case dtF64:
		return "F64"
	case dtI64:
		return "I64"
	case dtU64:
		return "U64"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// size is the element size in bytes (0 for an invalid dtype).
func (d tensorDtype) size() int64 {
	switch d {
	case dtBool, dtU8, dtI8, dtF8E5M2, dtF8E4M3:
		return 1
	case dtI16, dtU16, dtF16, dtBF16:
		return 2
	case dtI32, dtU32, dtF32:
		return 4
	case dtF64, dtI64, dtU64:
		return 8
	}
	return 0
}

// tensorDecoder returns a function converting one stored element (the first
// d.size() bytes of its argument) to float32. Floating types convert exactly
// (F64 rounds to nearest); integers and bools convert to the nearest float32,
// which is exact up to 2^24. The 8-bit float formats have no reader here and
// are reported as unsupported.
func tensorDecoder(d tensorDtype, bigEndian bool) (func([]byte) float32, error) {
	var bo binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		bo = binary.BigEndian
	}
	switch d {
	case dtBool:
		return func(b []byte) float32 {
			if b[0] != 0 {
				return 1
			}
			return 0
		}, nil
	case dtU8:
		return func(b []byte) float32 { return float32(b[0]) }, nil
	case dtI8:
		return func(b []byte) float32 { return float32(int8(b[0])) }, nil
	case dtI16:
		return func(b []byte) float32 { return float32(int16(bo.Uint16(b))) }, nil
	case dtU16:
		return func(b []byte) float32 { return float32(bo.Uint16(b)) }, nil
	case dtF16:
		return func(b []byte) float32 { return halfToFloat32(bo.Uint16(b)) }, nil
	case dtBF16:
		return func(b []byte) float32 { return math.Float32frombits(uint32(bo.Uint16(b)) << 16) }, nil
	case dtI32:
		return func(b []byte) float32 { return float32(int32(bo.Uint32(b))) }, nil
	case dtU32:
		return func(b []byte) float32 { return float32(bo.Uint32(b)) }, nil
	case dtF32:
		return func(b []byte) float32 { return math.Float32frombits(bo.Uint32(b)) }, nil
	case dtF64:
		return func(b []byte) float32 { return float32(math.Float64frombits(bo.Uint64(b))) }, nil
	case dtI64:
		return func(b []byte) float32 { return float32(int64(bo.Uint64(b))) }, nil
	case dtU64:
		return func(b []byte) float32 { return float32(bo.Uint64(b)) }, nil
	}
	return nil, fmt.Errorf("dtype %v is not supported", d)
}

// tensorDecodeContiguous converts len(dst) consecutive elements of src.
// src must hold at least len(dst)·d.size() bytes.
func tensorDecodeContiguous(dst []float32, src []byte, d tensorDtype, bigEndian bool) error {
	if !bigEndian {
		// Fast paths for the common float types.
		switch d {
		case dtF32:
			for i := range dst {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			}
			return nil
		case dtF16:
			for i := range dst {
				dst[i] = halfToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
			}
			return nil
		case dtBF16:
			for i := range dst {
				dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
			}
			return nil
		}
	}
	dec, err := tensorDecoder(d, bigEndian)
	if err != nil {
		return err
	}
	sz := int(d.size())
	for i := range dst {
		dst[i] = dec(src[i*sz:])
	}
	return nil
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 exactly,
// including subnormals, infinities and NaN payloads.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		// Zero or subnormal: mant·2^-24, exact in float32.
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// tensorNumel returns the element count of shape, rejecting negative
// dimensions and counts above tensorMaxElems.
func tensorNumel(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
	}
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if n > tensorMaxElems/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, int64(tensorMaxElems))
		}
		n *= d
	}
	return n, nil
}

// tensorShapeInts converts a validated int64 shape to []int.
func tensorShapeInts(shape []int64) []int {
	out := make([]int, len(shape))
	for i, d := range shape {
		out[i] = int(d)
	}
	return out
}

// quoteShort quotes s, which came from a file or a server, for an error
// message: control characters and invalid UTF-8 escaped, and at most 64
// bytes of it shown.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// plainShort is s as it is when it is short printable ASCII, else
// quoteShort(s).
func plainShort(s string) string {
	if len(s) > 64 {
		return quoteShort(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return quoteShort(s)
		}
	}
	return s
}

// tensorNameList formats up to max names for an error message.
func tensorNameList(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(", … (%d more)", len(names)-max)
}
