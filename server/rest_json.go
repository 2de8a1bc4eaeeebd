package server

import (
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// parseJSONFloats reads the numbers of a JSON array, flat or nested to any
// depth, as float32 (rounded from the decimal text exactly once, as a
// float32 parse does), and checks there are want of them. raw has been
// validated as JSON by encoding/json already; this only walks it, without
// building a []any of float64s.
func parseJSONFloats(name string, raw []byte, want int) ([]float32, error) {
	out := make([]float32, 0, want)
	depth := 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '[':
			depth++
			i++
		case c == ']':
			depth--
			i++
		case c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			if depth == 0 {
				return nil, errorf(kindBadRequest, "input %s: data is a number, want an array", name)
			}
			j := i + 1
			for j < len(raw) && isNumberByte(raw[j]) {
				j++
			}
			if len(out) == want {
				return nil, errorf(kindBadRequest, "input %s: more than the %d values its shape says", name, want)
			}
			// The bytes are not kept past the call, so they need no copy.
			f, err := strconv.ParseFloat(unsafe.String(&raw[i], j-i), 32)
			if err != nil {
				return nil, errorf(kindBadRequest, "input %s: value %d (%s) is not an FP32 number", name, len(out), raw[i:j])
			}
			out = append(out, float32(f))
			i = j
		default:
			return nil, errorf(kindBadRequest, "input %s: value %d is not a number (data must be an array of numbers)", name, len(out))
		}
	}
	if len(out) != want {
		return nil, errorf(kindBadRequest, "input %s: %d values; its shape says %d", name, len(out), want)
	}
	return out, nil
}

// isNumberByte reports bytes that continue a JSON number.
func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// errNonFinite is why NaN or ±Inf cannot go into a JSON answer.
var errNonFinite = errors.New("the model produced a non-finite value (NaN or Inf), which JSON cannot carry")

// appendJSONFloats appends v as a JSON array of numbers, each the shortest
// decimal that reads back as the same float32.
func appendJSONFloats(dst []byte, v []float32) ([]byte, error) {
	dst = append(dst, '[')
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, errNonFinite
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
	}
	return append(dst, ']'), nil
}
