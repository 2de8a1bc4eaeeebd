package checkpoint

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// stFile assembles a safetensors file from a header and a data buffer.
func stFile(header string, data []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// TestReadSafetensorsHostile feeds broken and hostile files; each must fail
// with an error naming the file and the problem (and the tensor at fault).
func TestReadSafetensorsHostile(t *testing.T) {
	zeros := func(n int) []byte { return make([]byte, n) }
	hugeLen := make([]byte, 8)
	binary.LittleEndian.PutUint64(hugeLen, 1000)
	tooBig := make([]byte, 16)
	binary.LittleEndian.PutUint64(tooBig, 200_000_000)
	cases := []struct {
		name string
		file []byte
		msgs []string
	}{
		{"truncated length", []byte{1, 2, 3}, []string{"shorter than the 8-byte header length"}},
		{"header beyond file", append(hugeLen, `{"a":1}`...), []string{"header length 1000 runs past the end of the 15-byte file"}},
		{"header over limit", tooBig, []string{"header length 200000000 exceeds the 100000000-byte limit"}},
		{"truncated data", stFile(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, zeros(12)),
			[]string{`tensor "w"`, "run past the 12-byte data buffer"}},
		{"overlap", stFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}`, zeros(24)),
			[]string{`tensor "b"`, `overlap tensor "a"`}},
		{"same range", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, zeros(8)),
			[]string{"overlap"}},
		{"gap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`, zeros(20)),
			[]string{`tensor "b"`, `gap of 4 bytes after tensor "a"`}},
		{"gap at start", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, zeros(12)),
			[]string{`tensor "a"`, "gap of 4 bytes at the start"}},
		{"trailing bytes", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, zeros(12)),
			[]string{`4 bytes follow the last tensor "a"`}},
		{"no tensors but data", stFile(`{}`, zeros(4)), []string{"lists no tensors but the data buffer holds 4 bytes"}},
		{"wrong dtype size", stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, zeros(4)),
			[]string{`tensor "w"`, "hold 4 bytes, but shape [2] of F32 needs 8"}},
		{"f16 sized as f32", stFile(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, zeros(8)),
			[]string{`tensor "w"`, "needs 4"}},
		{"unknown dtype", stFile(`{"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}`, zeros(4)),
			[]string{`tensor "w"`, `unknown dtype "F17"`}},
		{"unsupported dtype", stFile(`{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}`, zeros(4)),
			[]string{`tensor "w"`, "F8_E4M3 is not supported"}},
		{"duplicate key", stFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, zeros(8)),
			[]string{`tensor "w"`, "duplicate key"}},
		{"duplicate field", stFile(`{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, zeros(4)),
			[]string{`tensor "w"`, `field "dtype" given twice`}},
		{"negative shape", stFile(`{"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,4]}}`, zeros(4)),
			[]string{`tensor "w"`, "shape holds negative value -1"}},
		{"fractional shape", stFile(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, zeros(4)),
			[]string{`tensor "w"`, "not a 64-bit integer"}},
		{"shape overflow", stFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, zeros(4)),
			[]string{`tensor "w"`, "more than"}},
		{"end before begin", stFile(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, zeros(4)),
			[]string{`tensor "w"`, "end before they begin"}},
		{"three offsets", stFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, zeros(4)),
			[]string{`tensor "w"`, "data_offsets has 3 values"}},
		{"missing offsets", stFile(`{"w":{"dtype":"F32","shape":[1]}}`, zeros(4)),
			[]string{`tensor "w"`, `missing "data_offsets"`}},
		{"entry not object", stFile(`{"w":[1,2]}`, nil), []string{`tensor "w"`, "not a JSON object"}},
		{"invalid json", stFile(`{"w":{"dtype":"F32",`, nil), []string{`tensor "w"`, "header JSON ends early"}},
		{"not an object", stFile(`[1,2,3]`, nil), []string{"header is not a JSON object"}},
		{"trailing json", stFile(`{} {}`, nil), []string{"after the object"}},
		{"bad utf8", stFile("{\"\xff\":1}", nil), []string{"not valid UTF-8"}},
		{"bad metadata", stFile(`{"__metadata__":{"format":1}}`, nil), []string{"__metadata__ is not a string-to-string map"}},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := wtWriteFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".safetensors", tc.file)
			_, err := ReadSafetensors(path)
			require.Error(t, err, "case %d", i)
			require.ErrorContains(t, err, path)
			for _, m := range tc.msgs {
				require.ErrorContains(t, err, m)
			}
		})
	}
}

// TestReadSafetensorsAccepts covers legal corner cases of the format.
func TestReadSafetensorsAccepts(t *testing.T) {
	dir := t.TempDir()
	// Unaligned data, metadata, unknown fields, trailing header spaces, a
	// zero-size tensor sitting between two others, shape [] (scalar).
	hdr := `{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8],"extra":[{"x":1}]},` +
		`"z":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},` +
		`"c":{"dtype":"F16","shape":[1,1],"data_offsets":[8,10]},"d":{"dtype":"I8","shape":[2],"data_offsets":[10,12]}}   `
	data := []byte{0, 0, 0xc0, 0x3f, 0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3c, 0xff, 0x7f}
	path := wtWriteFile(t, dir, "ok.safetensors", stFile(hdr, data))
	ts, err := ReadSafetensors(path)
	require.NoError(t, err)
	require.Len(t, ts, 5)
	require.Equal(t, []float32{1.5}, ts["a"].Data)
	require.Equal(t, []int{}, ts["a"].Shape)
	require.Equal(t, []float32{1, -2}, ts["b"].Data)
	require.Equal(t, []float32{1}, ts["c"].Data)
	require.Equal(t, []float32{-1, 127}, ts["d"].Data)
	require.Equal(t, []int{0, 5}, ts["z"].Shape)
	require.Empty(t, ts["z"].Data)

	empty := wtWriteFile(t, dir, "empty.safetensors", stFile(`{}`, nil))
	ts, err = ReadSafetensors(empty)
	require.NoError(t, err)
	require.Empty(t, ts)
}

// TestHalfToFloat32 checks the fp16 conversion on special values.
func TestHalfToFloat32(t *testing.T) {
	for _, tc := range []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 1.0 / (1 << 24)},
		{0x03ff, 1023.0 / (1 << 24)}, {0x0400, 1.0 / (1 << 14)}, {0x3555, 0.333251953125},
	} {
		require.Equal(t, tc.want, halfToFloat32(tc.h), "0x%04x", tc.h)
	}
	require.True(t, halfToFloat32(0x7c00) > 3e38)
	require.True(t, halfToFloat32(0xfc00) < -3e38)
	nan := halfToFloat32(0x7e00)
	require.True(t, nan != nan)
	require.Equal(t, uint32(0x80000000), math.Float32bits(halfToFloat32(0x8000)))
}
