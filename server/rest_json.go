package server

import (
	"errors"
	"strconv"
	"unsafe"
)

// parseJSONFloats reads the numbers of a JSON array, flat or nested to any
// depth, as float32 (rounded from the decimal text exactly once, as a
// float32 parse does), and checks there are want of them. It counts them
// before it allocates anything, and then charges the pixels to c, so that
// a request declaring many images and sending few costs nothing. raw is
// the data value scanREST found (encoding/json validates the whole body);
// this only walks it, without building a []any of float64s.
func parseJSONFloats(name string, raw []byte, want int, c *claim) ([]float32, error) {
	count := 0
	err := walkJSONArray(name, raw, func(tok []byte, depth int) error {
		switch {
		case tok[0] != '-' && (tok[0] < '0' || tok[0] > '9'):
			return errorf(kindBadRequest, "input %s: value %d is not a number (data must be an array of numbers)", name, count)
		case depth == 0:
			return errorf(kindBadRequest, "input %s: data is a number, want an array", name)
		case count == want:
			return errorf(kindBadRequest, "input %s: more than the %d values its shape says", name, want)
		}
		count++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if count != want {
		return nil, errorf(kindBadRequest, "input %s: %d values; its shape says %d", name, count, want)
	}
	if err := c.grow(4 * int64(want)); err != nil {
		return nil, err
	}
	out := make([]float32, 0, want)
	err = walkJSONArray(name, raw, func(tok []byte, _ int) error {
		// The bytes are not kept past the call, so they need no copy.
		f, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 32)
		if err != nil {
			return errorf(kindBadRequest, "input %s: value %d (%s) is not an FP32 number", name, len(out), clip(string(tok)))
		}
		out = append(out, float32(f))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walkJSONArray calls f on each scalar of a JSON value, in order, with
// its nesting depth in arrays (0 for a bare scalar): a number's or
// literal's text, or a string with its quotes. raw must be valid JSON
// (encoding/json has checked the body); an object in it is an error.
func walkJSONArray(name string, raw []byte, f func(tok []byte, depth int) error) error {
	depth := 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '[':
			depth++
			i++
		case ']':
			depth--
			i++
		case ',', ' ', '\t', '\n', '\r':
			i++
		case '{':
			return errorf(kindBadRequest, "input %s: data holds an object, want an array", name)
		default:
			j := i + 1
			if c == '"' {
				for j < len(raw) && raw[j] != '"' {
					if raw[j] == '\\' {
						j++
					}
					j++
				}
				j = min(j+1, len(raw))
			} else {
				for j < len(raw) && isNumberByte(raw[j]) {
					j++
				}
				for j < len(raw) && raw[j] >= 'a' && raw[j] <= 'z' { // true, false, null
					j++
				}
			}
			if err := f(raw[i:j], depth); err != nil {
				return err
			}
			i = j
		}
	}
	return nil
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
	if firstNonFinite(v) >= 0 {
		return nil, errNonFinite
	}
	dst = append(dst, '[')
	for i, f := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
	}
	return append(dst, ']'), nil
}
