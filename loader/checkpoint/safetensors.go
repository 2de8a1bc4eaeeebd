package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"
)

// safetensorsMaxHeader is the header size limit of the reference reader.
const safetensorsMaxHeader = 100_000_000

// safetensorsEntry is one validated header entry.
type safetensorsEntry struct {
	name       string
	dtype      tensorDtype
	shape      []int64
	numel      int64
	begin, end int64 // byte offsets into the data buffer, end exclusive
}

// ReadSafetensors reads every tensor of a safetensors file and converts it to
// float32 (F32, F16, BF16, F64 and the integer and bool types; the 8-bit
// float types are rejected). The file is memory-mapped where possible, so each
// tensor is converted directly from the mapped bytes.
//
// The whole header is validated before any tensor is converted, following the
// reference reader: an 8-byte little-endian header length of at most
// 100,000,000 bytes that fits the file, a valid UTF-8 JSON object without
// duplicate keys, a known dtype, non-negative shape and two data_offsets per
// tensor, END−BEGIN = elements × dtype size, and tensors that tile the data
// buffer exactly (no gaps, no overlaps, nothing after the last tensor). The
// optional "__metadata__" entry is ignored. Every error names the file and,
// where one is at fault, the tensor.
func ReadSafetensors(path string) (map[string]*Tensor, error) {
	return readPath(path, formatSafetensors)
}

// safetensorsRead parses and converts a whole safetensors file (tests and
// fuzzing).
func safetensorsRead(src *weightsSource) (map[string]*Tensor, error) {
	return readSource(src, formatSafetensors)
}

// safetensorsIndex validates the header of src and returns its index and
// the reader of its tensors.
func safetensorsIndex(src *weightsSource) ([]Info, tensorReader, error) {
	entries, dataStart, err := safetensorsHeader(src)
	if err != nil {
		return nil, nil, err
	}
	index := make([]Info, len(entries))
	byName := make(map[string]*safetensorsEntry, len(entries))
	for i := range entries {
		e := &entries[i]
		index[i] = Info{Name: e.name, Shape: tensorShapeInts(e.shape), DType: e.dtype.String()}
		byName[e.name] = e
	}
	read := func(names []string) (map[string]*Tensor, error) {
		out := make(map[string]*Tensor, len(names))
		for _, name := range names {
			e := byName[name]
			if e == nil {
				return nil, fmt.Errorf("safetensors: no tensor %s", quoteShort(name))
			}
			raw, err := src.bytes(dataStart+e.begin, e.end-e.begin)
			if err != nil {
				return nil, fmt.Errorf("safetensors: tensor %s: %w", quoteShort(e.name), err)
			}
			t := &Tensor{Name: e.name, Shape: tensorShapeInts(e.shape), Data: make([]float32, e.numel)}
			if err := tensorDecodeContiguous(t.Data, raw, e.dtype, false); err != nil {
				return nil, fmt.Errorf("safetensors: tensor %s: %w", quoteShort(e.name), err)
			}
			out[e.name] = t
		}
		return out, nil
	}
	return index, read, nil
}

// safetensorsHeader reads the length prefix and header of src and returns the
// validated entries and the file offset of the data buffer.
func safetensorsHeader(src *weightsSource) ([]safetensorsEntry, int64, error) {
	if src.size < 8 {
		return nil, 0, fmt.Errorf("safetensors: file is %d bytes, shorter than the 8-byte header length", src.size)
	}
	prefix, err := src.bytes(0, 8)
	if err != nil {
		return nil, 0, fmt.Errorf("safetensors: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > safetensorsMaxHeader {
		return nil, 0, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit", n, safetensorsMaxHeader)
	}
	if int64(n) > src.size-8 {
		return nil, 0, fmt.Errorf("safetensors: header length %d runs past the end of the %d-byte file", n, src.size)
	}
	hdr, err := src.bytes(8, int64(n))
	if err != nil {
		return nil, 0, fmt.Errorf("safetensors: %w", err)
	}
	dataStart := 8 + int64(n)
	entries, err := parseSafetensorsHeader(hdr, src.size-dataStart)
	if err != nil {
		return nil, 0, err
	}
	return entries, dataStart, nil
}

// parseSafetensorsHeader parses the JSON header hdr of a file whose data
// buffer is bufSize bytes long and checks every format rule. The JSON is read
// token by token because encoding/json silently keeps the last of duplicate
// keys, which the format forbids.
func parseSafetensorsHeader(hdr []byte, bufSize int64) ([]safetensorsEntry, error) {
	if !utf8.Valid(hdr) {
		return nil, errors.New("safetensors: header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if err := safetensorsExpectDelim(dec, '{'); err != nil {
		return nil, fmt.Errorf("safetensors: header is not a JSON object: %w", err)
	}
	var entries []safetensorsEntry
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := safetensorsToken(dec)
		if err != nil {
			return nil, fmt.Errorf("safetensors: header JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("safetensors: header JSON: unexpected %s", tokenShort(tok))
		}
		if seen[name] {
			return nil, fmt.Errorf("safetensors: tensor %s: duplicate key in header", quoteShort(name))
		}
		seen[name] = true
		if name == "__metadata__" {
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ is not a string-to-string map: %w", err)
			}
			continue
		}
		e, err := safetensorsParseEntry(dec, name)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", quoteShort(name), err)
		}
		entries = append(entries, e)
	}
	if err := safetensorsExpectDelim(dec, '}'); err != nil {
		return nil, fmt.Errorf("safetensors: header JSON: %w", err)
	}
	if tok, err := dec.Token(); err != io.EOF { // only whitespace may follow
		if err != nil {
			return nil, fmt.Errorf("safetensors: header JSON: %w", err)
		}
		return nil, fmt.Errorf("safetensors: header JSON: unexpected %s after the object", tokenShort(tok))
	}
	if err := safetensorsCheckLayout(entries, bufSize); err != nil {
		return nil, err
	}
	return entries, nil
}

// safetensorsCheckLayout checks sizes, bounds and exact tiling of the buffer.
func safetensorsCheckLayout(entries []safetensorsEntry, bufSize int64) error {
	for i := range entries {
		e := &entries[i]
		if e.end < e.begin {
			return fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] end before they begin", quoteShort(e.name), e.begin, e.end)
		}
		if e.end > bufSize {
			return fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] run past the %d-byte data buffer", quoteShort(e.name), e.begin, e.end, bufSize)
		}
		if want := e.numel * e.dtype.size(); e.end-e.begin != want {
			return fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] hold %d bytes, but shape %v of %v needs %d", quoteShort(e.name), e.begin, e.end, e.end-e.begin, e.shape, e.dtype, want)
		}
	}
	order := make([]*safetensorsEntry, len(entries))
	for i := range entries {
		order[i] = &entries[i]
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].begin != order[j].begin {
			return order[i].begin < order[j].begin
		}
		return order[i].end < order[j].end
	})
	var pos int64
	prev := ""
	for _, e := range order {
		switch {
		case e.begin < pos:
			return fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] overlap tensor %s, which ends at %d", quoteShort(e.name), e.begin, e.end, quoteShort(prev), pos)
		case e.begin > pos && prev == "":
			return fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] leave a gap of %d bytes at the start of the data buffer", quoteShort(e.name), e.begin, e.end, e.begin)
		case e.begin > pos:
			return fmt.Errorf("safetensors: tensor %s: data_offsets [%d, %d] leave a gap of %d bytes after tensor %s", quoteShort(e.name), e.begin, e.end, e.begin-pos, quoteShort(prev))
		}
		pos = e.end
		prev = e.name
	}
	if pos != bufSize {
		if prev == "" {
			return fmt.Errorf("safetensors: header lists no tensors but the data buffer holds %d bytes", bufSize)
		}
		return fmt.Errorf("safetensors: %d bytes follow the last tensor %s in the data buffer", bufSize-pos, quoteShort(prev))
	}
	return nil
}

// safetensorsParseEntry reads one {"dtype", "shape", "data_offsets"} object.
// Unknown fields are skipped; repeated fields are an error.
func safetensorsParseEntry(dec *json.Decoder, name string) (safetensorsEntry, error) {
	e := safetensorsEntry{name: name}
	if err := safetensorsExpectDelim(dec, '{'); err != nil {
		return e, fmt.Errorf("entry is not a JSON object: %w", err)
	}
	have := make(map[string]bool, 3)
	var offsets []int64
	for dec.More() {
		tok, err := safetensorsToken(dec)
		if err != nil {
			return e, err
		}
		field, ok := tok.(string)
		if !ok {
			return e, fmt.Errorf("unexpected %s", tokenShort(tok))
		}
		if have[field] {
			return e, fmt.Errorf("field %s given twice", quoteShort(field))
		}
		have[field] = true
		switch field {
		case "dtype":
			tok, err := safetensorsToken(dec)
			if err != nil {
				return e, err
			}
			s, ok := tok.(string)
			if !ok {
				return e, fmt.Errorf("dtype is %s, not a string", tokenShort(tok))
			}
			dt, ok := tensorDtypeFromName(s)
			if !ok {
				return e, fmt.Errorf("unknown dtype %s", quoteShort(s))
			}
			e.dtype = dt
		case "shape":
			if e.shape, err = safetensorsIntList(dec, "shape"); err != nil {
				return e, err
			}
			if e.shape == nil {
				e.shape = []int64{}
			}
		case "data_offsets":
			if offsets, err = safetensorsIntList(dec, "data_offsets"); err != nil {
				return e, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return e, err
			}
		}
	}
	if err := safetensorsExpectDelim(dec, '}'); err != nil {
		return e, err
	}
	for _, f := range []string{"dtype", "shape", "data_offsets"} {
		if !have[f] {
			return e, fmt.Errorf("missing %q", f)
		}
	}
	if len(offsets) != 2 {
		return e, fmt.Errorf("data_offsets has %d values, want 2", len(offsets))
	}
	e.begin, e.end = offsets[0], offsets[1]
	n, err := tensorNumel(e.shape)
	if err != nil {
		return e, err
	}
	e.numel = n
	return e, nil
}

// safetensorsIntList reads a JSON array of non-negative integers.
func safetensorsIntList(dec *json.Decoder, what string) ([]int64, error) {
	if err := safetensorsExpectDelim(dec, '['); err != nil {
		return nil, fmt.Errorf("%s is not a list: %w", what, err)
	}
	var out []int64
	for dec.More() {
		tok, err := safetensorsToken(dec)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s holds %s, not an integer", what, tokenShort(tok))
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s holds %s, not a 64-bit integer", what, quoteShort(string(num)))
		}
		if v < 0 {
			return nil, fmt.Errorf("%s holds negative value %d", what, v)
		}
		if len(out) >= 64 {
			return nil, fmt.Errorf("%s has more than 64 values", what)
		}
		out = append(out, v)
	}
	if err := safetensorsExpectDelim(dec, ']'); err != nil {
		return nil, err
	}
	return out, nil
}

// safetensorsExpectDelim reads one token and checks that it is delimiter d.
func safetensorsExpectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := safetensorsToken(dec)
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("expected %q, found %s", rune(d), tokenShort(tok))
	}
	return nil
}

// errSafetensorsShort reports a header that ends inside a value.
var errSafetensorsShort = errors.New("header JSON ends early")

// safetensorsToken is dec.Token with end of input reported as an error.
func safetensorsToken(dec *json.Decoder) (json.Token, error) {
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errSafetensorsShort
	}
	return tok, err
}

// tokenShort shows a JSON token in an error message, long strings cut.
func tokenShort(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		return quoteShort(v)
	case json.Number:
		return quoteShort(string(v))
	case json.Delim:
		return string(v)
	}
	return fmt.Sprint(tok)
}
