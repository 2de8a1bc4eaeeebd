package server

import (
	"bytes"
	"encoding/json"
)

// Limits of a JSON inference request, checked by scanREST before
// encoding/json decodes it: decoding turns `{}` (3 bytes with its comma)
// into an input struct of about 250 bytes, and a 2-byte shape dimension
// into 8, so a body of a few MiB of repeated nothing would otherwise
// decode to GBs. Within them, a decoded request is at most about its body
// plus a few KiB.
const (
	maxJSONDepth   = 32 // nesting of arrays and objects
	maxJSONItems   = 16 // elements of any array outside an input's data
	maxJSONMembers = 32 // members of any object outside an input's data
)

// jsonRole is what a JSON value is to a request, deciding its limits.
type jsonRole int

const (
	roleOther   jsonRole = iota // unknown or scalar: generic limits
	roleTop                     // the request object
	roleInputs                  // its inputs array: at most one
	roleInput                   // an input object
	roleOutputs                 // its outputs array: at most maxOutputs
	roleOutput                  // an output object
	roleShape                   // an input's shape: at most maxDims
	roleParams                  // a parameters object: at most maxParams
	roleData                    // an input's data: any size, within the depth limit
)

// jsonScan is scanREST's state: a cursor over the JSON text.
type jsonScan struct {
	b          []byte
	i          int
	maxOutputs int
	data       []byte // the last input data value seen
}

// scanREST checks a JSON inference request against the limits a request
// of this server can meet, token by token and without allocating: a JSON
// object with at most one input, maxOutputs outputs, maxDims shape
// dimensions, maxParams parameters per object, small arrays and objects
// everywhere but in an input's data, nesting at most maxJSONDepth deep.
// Keys match as encoding/json matches them (case-insensitively). It
// returns the input's data value, undecoded (nil when there is none), so
// that encoding/json need not copy it. Malformed JSON that the scan lets
// through is left for encoding/json to report.
func scanREST(b []byte, maxOutputs int) (data []byte, err error) {
	sc := &jsonScan{b: b, maxOutputs: maxOutputs}
	sc.ws()
	if sc.i >= len(b) || b[sc.i] != '{' {
		return nil, errorf(kindBadRequest, "malformed JSON request: want a JSON object")
	}
	if err := sc.value(roleTop, 0); err != nil {
		return nil, err
	}
	return sc.data, nil
}

// ws skips white space.
func (sc *jsonScan) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// malformed is the error of JSON the scan cannot follow.
func (sc *jsonScan) malformed(what string) error {
	return errorf(kindBadRequest, "malformed JSON request: %s at offset %d", what, sc.i)
}

// value scans one value of the given role at nesting depth.
func (sc *jsonScan) value(role jsonRole, depth int) error {
	sc.ws()
	if sc.i >= len(sc.b) {
		return sc.malformed("unexpected end")
	}
	switch sc.b[sc.i] {
	case '{':
		if depth >= maxJSONDepth {
			return errorf(kindBadRequest, "the JSON request nests deeper than %d", maxJSONDepth)
		}
		return sc.object(role, depth+1)
	case '[':
		if depth >= maxJSONDepth {
			return errorf(kindBadRequest, "the JSON request nests deeper than %d", maxJSONDepth)
		}
		return sc.array(role, depth+1)
	case '"':
		_, err := sc.str()
		return err
	default:
		// A number or a literal: up to the next delimiter (encoding/json
		// checks its spelling).
		start := sc.i
		for sc.i < len(sc.b) {
			c := sc.b[sc.i]
			if c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '[' || c == '{' || c == ':' {
				break
			}
			sc.i++
		}
		if sc.i == start {
			return sc.malformed("unexpected character")
		}
		return nil
	}
}

// str scans a string and returns its raw contents (between the quotes,
// escapes undecoded).
func (sc *jsonScan) str() ([]byte, error) {
	sc.i++ // the opening quote
	start := sc.i
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case '\\':
			sc.i += 2
		case '"':
			s := sc.b[start:sc.i]
			sc.i++
			return s, nil
		default:
			sc.i++
		}
	}
	return nil, sc.malformed("unterminated string")
}

// array scans an array whose elements' role follows from the array's.
func (sc *jsonScan) array(role jsonRole, depth int) error {
	sc.i++ // '['
	limit, elem := maxJSONItems, roleOther
	switch role {
	case roleInputs:
		limit, elem = 1, roleInput
	case roleOutputs:
		limit, elem = sc.maxOutputs, roleOutput
	case roleShape:
		limit = maxDims
	case roleData:
		limit, elem = -1, roleData
	}
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
		sc.i++
		return nil
	}
	for n := 1; ; n++ {
		if limit >= 0 && n > limit {
			return sc.tooMany(role, limit)
		}
		if err := sc.value(elem, depth); err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.b) {
			return sc.malformed("unterminated array")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return nil
		default:
			return sc.malformed("want , or ] in an array")
		}
	}
}

// object scans an object; its members' roles follow from their keys.
func (sc *jsonScan) object(role jsonRole, depth int) error {
	sc.i++ // '{'
	limit := maxJSONMembers
	switch role {
	case roleParams:
		limit = maxParams
	case roleData:
		limit = -1
	}
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		return nil
	}
	for n := 1; ; n++ {
		if limit >= 0 && n > limit {
			return sc.tooMany(role, limit)
		}
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
			return sc.malformed("want a key")
		}
		key, err := sc.str()
		if err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return sc.malformed("want : after a key")
		}
		sc.i++
		member := memberRole(role, key)
		sc.ws()
		start := sc.i
		if err := sc.value(member, depth); err != nil {
			return err
		}
		if member == roleData {
			sc.data = sc.b[start:sc.i]
		}
		sc.ws()
		if sc.i >= len(sc.b) {
			return sc.malformed("unterminated object")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return nil
		default:
			return sc.malformed("want , or } in an object")
		}
	}
}

// memberRole is the role of the member named key (raw, escapes undecoded)
// of an object of the given role.
func memberRole(parent jsonRole, key []byte) jsonRole {
	if parent == roleData {
		return roleData
	}
	is := func(name string) bool { return keyIs(key, name) }
	switch {
	case parent == roleTop && is("inputs"):
		return roleInputs
	case parent == roleTop && is("outputs"):
		return roleOutputs
	case (parent == roleTop || parent == roleInput || parent == roleOutput) && is("parameters"):
		return roleParams
	case parent == roleInput && is("shape"):
		return roleShape
	case parent == roleInput && is("data"):
		return roleData
	}
	return roleOther
}

// keyIs reports whether a raw JSON key names a field as encoding/json
// matches it: after decoding escapes, case-insensitively (with Unicode
// case folding, so that "ſ" matches "s").
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return bytes.EqualFold(raw, []byte(name))
	}
	var k string
	if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &k) != nil {
		return false
	}
	return bytes.EqualFold([]byte(k), []byte(name))
}

// tooMany is the error of an array or object over its limit.
func (sc *jsonScan) tooMany(role jsonRole, limit int) error {
	switch role {
	case roleInputs:
		return errorf(kindBadRequest, "more than one input; a request has exactly one: %s or %s", inputPixels, inputImage)
	case roleOutputs:
		return errorf(kindBadRequest, "more than %d outputs; the model has %d", limit, limit)
	case roleShape:
		return errorf(kindBadRequest, "an input's shape has more than %d dimensions; the model's inputs have at most %d", limit, limit)
	case roleParams:
		return errorf(kindBadRequest, "more than %d parameters in one object", limit)
	case roleTop, roleInput, roleOutput:
		return errorf(kindBadRequest, "an object of the request has more than %d members", limit)
	}
	return errorf(kindBadRequest, "the JSON request has an array or object of more than %d elements outside an input's data", limit)
}
