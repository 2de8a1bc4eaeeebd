package gpu

import (
	"fmt"
	"math"
)

// DType is the element type of a buffer range an op reads or writes.
type DType uint8

const (
	// F32 is IEEE binary32, the default.
	F32 DType = iota
	// F16 is IEEE binary16 (see Half); the fp16 kernels need a device with
	// DeviceInfo.FP16.
	F16
)

// Size returns the element size in bytes.
func (t DType) Size() int64 {
	if t == F16 {
		return 2
	}
	return 4
}

// String returns "f32" or "f16".
func (t DType) String() string {
	switch t {
	case F32:
		return "f32"
	case F16:
		return "f16"
	}
	return fmt.Sprintf("DType(%d)", uint8(t))
}

// Arg is a buffer range bound to one kernel binding (or used by Copy).
type Arg struct {
	Buf    *Buffer
	Offset int64 // bytes from the start of Buf
	Size   int64 // bytes; 0 means to the end of Buf
	Write  bool  // the kernel writes the range (hazard tracking)
	// Type is the element type the op reads or writes there (F32 unless
	// set). Ops pick their fp16 kernels from it; raw dispatches ignore it.
	Type DType
}

// As returns a with element type t.
func (a Arg) As(t DType) Arg {
	a.Type = t
	return a
}

// R binds all of b for reading.
func R(b *Buffer) Arg { return Arg{Buf: b} }

// W binds all of b for writing.
func W(b *Buffer) Arg { return Arg{Buf: b, Write: true} }

// Range narrows a to size bytes starting offset bytes into it (size 0: to
// the end). Offsets bound to kernels must be multiples of the device's
// minStorageBufferOffsetAlignment.
func (a Arg) Range(offset, size int64) Arg {
	a.Offset += offset
	a.Size = size
	return a
}

// Push packs push-constant values little-endian, 4 bytes each. It accepts
// uint32, int32, float32 and int (which must fit in 32 bits); anything else
// is a programming error and panics.
func Push(vals ...any) []byte {
	out := make([]byte, 0, 4*len(vals))
	for i, v := range vals {
		var u uint32
		switch x := v.(type) {
		case uint32:
			u = x
		case int32:
			u = uint32(x)
		case float32:
			u = math.Float32bits(x)
		case int:
			if x < math.MinInt32 || x > math.MaxUint32 {
				panic(fmt.Sprintf("gpu.Push: argument %d: int %d does not fit in 32 bits", i, x))
			}
			u = uint32(x)
		default:
			panic(fmt.Sprintf("gpu.Push: argument %d has type %T; want uint32, int32, int or float32", i, v))
		}
		out = append(out, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return out
}
