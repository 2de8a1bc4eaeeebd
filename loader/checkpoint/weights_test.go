package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// wtExpected is weights-expected.json: file → tensor → shape and values,
// written by testdata/gen_weights.py from the tensors torch saved.
type wtExpected map[string]map[string]struct {
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

func wtLoadExpected(t *testing.T) wtExpected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "weights-expected.json"))
	require.NoError(t, err)
	var exp wtExpected
	require.NoError(t, json.Unmarshal(b, &exp))
	return exp
}

// wtRequireTensors checks got against the expected tensors bit for bit.
func wtRequireTensors(t *testing.T, file string, exp wtExpected, got map[string]*Tensor) {
	t.Helper()
	want := exp[file]
	require.NotEmpty(t, want, "no expectations for %s", file)
	var wantNames, gotNames []string
	for k := range want {
		wantNames = append(wantNames, k)
	}
	for k := range got {
		gotNames = append(gotNames, k)
	}
	sort.Strings(wantNames)
	sort.Strings(gotNames)
	require.Equal(t, wantNames, gotNames, "%s: tensor names", file)
	for name, w := range want {
		g := got[name]
		require.Equal(t, name, g.Name)
		require.Equal(t, w.Shape, g.Shape, "%s: %s shape", file, name)
		require.Len(t, g.Data, len(w.Values), "%s: %s", file, name)
		for i, v := range w.Values {
			require.Equal(t, math.Float32bits(float32(v)), math.Float32bits(g.Data[i]),
				"%s: %s[%d] = %v, want %v", file, name, i, g.Data[i], float32(v))
		}
	}
}

// TestReadWeightsRealFiles loads every file torch (and a hand-written
// safetensors writer) produced and compares all values exactly, through the
// format-sniffing entry point, the format-specific one, and the ReadAt path
// that is used when a file cannot be mapped.
func TestReadWeightsRealFiles(t *testing.T) {
	exp := wtLoadExpected(t)
	cases := []struct {
		file string
		read func(string) (map[string]*Tensor, error)
		raw  func(*weightsSource) (map[string]*Tensor, error)
	}{
		{"weights-zip.pt", ReadTorch, torchRead},
		{"weights-legacy.pt", ReadTorch, torchRead},
		{"weights-fb.pth", ReadTorch, torchRead},
		{"weights-fb-legacy.pth", ReadTorch, torchRead},
		{"weights-bigendian.pt", ReadTorch, torchRead},
		{"weights-hand.safetensors", ReadSafetensors, safetensorsRead},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			got, err := Read(path)
			require.NoError(t, err)
			wtRequireTensors(t, tc.file, exp, got)

			got, err = tc.read(path)
			require.NoError(t, err)
			wtRequireTensors(t, tc.file, exp, got)

			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			st, err := f.Stat()
			require.NoError(t, err)
			got, err = tc.raw(&weightsSource{ra: f, size: st.Size(), closer: func() error { return nil }})
			require.NoError(t, err)
			wtRequireTensors(t, tc.file, exp, got)
		})
	}
}

// TestReadWeightsSpecificValues pins a few facts independently of the
// generator's JSON: layouts that a naive reader gets wrong.
func TestReadWeightsSpecificValues(t *testing.T) {
	ts, err := Read(filepath.Join("testdata", "weights-zip.pt"))
	require.NoError(t, err)
	require.Equal(t, []int{}, ts["scalar"].Shape)
	require.Equal(t, []float32{3.25}, ts["scalar"].Data)
	require.Equal(t, []int{0, 3}, ts["empty"].Shape)
	require.Empty(t, ts["empty"].Data)
	require.Equal(t, []float32{-3, -2, -1, 0, 1, 2}, ts["long"].Data)
	require.Equal(t, []float32{1, 0, 1}, ts["mask"].Data)
	// transposed is base.t(): transposed[i][j] = base[j][i]; sliced is
	// base[1:5:2, 1:4]. Both views share base's storage.
	tr, sl := ts["transposed"], ts["sliced"]
	require.Equal(t, []int{5, 6}, tr.Shape)
	require.Equal(t, []int{2, 3}, sl.Shape)
	base := func(r, c int) float32 { return tr.Data[c*6+r] }
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			require.Equal(t, base(1+2*i, 1+j), sl.Data[i*3+j])
		}
	}
	// expanded: every row repeats one value.
	ex := ts["expanded"]
	for r := 0; r < 3; r++ {
		for c := 1; c < 4; c++ {
			require.Equal(t, ex.Data[r*4], ex.Data[r*4+c])
		}
	}
}

// TestWriteSafetensorsRoundTrip writes with WriteSafetensors and reads back.
func TestWriteSafetensorsRoundTrip(t *testing.T) {
	in := []*Tensor{
		{Name: "w", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.125}},
		{Name: "scalar", Shape: []int{}, Data: []float32{7}},
		{Name: "empty", Shape: []int{0}, Data: []float32{}},
		{Name: "quote\"name<>", Shape: []int{1}, Data: []float32{42}},
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, WriteSafetensors(path, in))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Zero(t, (len(b)-4*(6+1+0+1))%8, "header padded to 8 bytes")
	got, err := Read(path)
	require.NoError(t, err)
	require.Len(t, got, len(in))
	for _, w := range in {
		g := got[w.Name]
		require.NotNil(t, g, w.Name)
		require.Equal(t, w.Shape, g.Shape)
		require.Equal(t, w.Data, g.Data)
	}

	bad := []struct {
		name string
		ts   []*Tensor
		msg  string
	}{
		{"duplicate", []*Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}, `"a": duplicate name`},
		{"size", []*Tensor{{Name: "a", Shape: []int{2}, Data: []float32{1}}}, `shape [2] needs 2 values, Data has 1`},
		{"negative", []*Tensor{{Name: "a", Shape: []int{-1}, Data: nil}}, `negative dimension`},
		{"empty name", []*Tensor{{Shape: []int{1}, Data: []float32{1}}}, `empty name`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.safetensors")
			err := WriteSafetensors(p, tc.ts)
			require.ErrorContains(t, err, tc.msg)
			require.ErrorContains(t, err, p)
			_, statErr := os.Stat(p)
			require.True(t, os.IsNotExist(statErr), "no file left behind")
		})
	}
}

// TestReadWeightsUnknownFormat checks the sniffing errors.
func TestReadWeightsUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"text.bin", []byte("hello, world, this is not a model"), "unrecognized weights format"},
		{"empty.bin", nil, "unrecognized weights format"},
		{"one.bin", []byte{1}, "unrecognized weights format"},
	} {
		path := wtWriteFile(t, dir, tc.name, tc.data)
		_, err := Read(path)
		require.ErrorContains(t, err, tc.msg)
		require.ErrorContains(t, err, path)
	}
	_, err := Read(filepath.Join(dir, "missing.safetensors"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "missing.safetensors")
	_, err = Read(dir)
	require.ErrorContains(t, err, "not a regular file")
}

// BenchmarkReadSafetensors measures conversion speed on a deit-small sized
// F32 file (the whole network's 22M values).
func BenchmarkReadSafetensors(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.safetensors")
	data := make([]float32, 22_000_000)
	for i := range data {
		data[i] = float32(i)
	}
	if err := WriteSafetensors(path, []*Tensor{{Name: "w", Shape: []int{len(data)}, Data: data}}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * len(data)))
	for b.Loop() {
		if _, err := ReadSafetensors(path); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadSniffsEveryHeaderLength reads safetensors files whose header
// length takes every value mod 256. The first byte of a safetensors file is
// the low byte of that length: 0x80 (the pickle PROTO opcode) for every
// length ≡ 128 mod 256, and the lengths here (512..767) make the second byte
// 2, a valid pickle protocol. Files written by WriteSafetensors (headers
// padded to 8 bytes: every multiple of 8 mod 256) and by hand (unpadded:
// all 256 classes) must all read.
func TestReadSniffsEveryHeaderLength(t *testing.T) {
	dir := t.TempDir()
	t.Run("WriteSafetensors", func(t *testing.T) {
		classes := map[int]bool{}
		for n := 400; len(classes) < 32 && n < 800; n++ {
			name := strings.Repeat("w", n)
			path := filepath.Join(dir, fmt.Sprintf("w%d.safetensors", n))
			require.NoError(t, WriteSafetensors(path, []*Tensor{{Name: name, Shape: []int{2}, Data: []float32{1.5, -2}}}))
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			hlen := binary.LittleEndian.Uint64(b)
			if classes[int(hlen%256)] {
				continue
			}
			classes[int(hlen%256)] = true
			ts, err := Read(path)
			require.NoError(t, err, "header length %d (≡ %d mod 256, first bytes % x)", hlen, hlen%256, b[:2])
			require.Equal(t, []float32{1.5, -2}, ts[name].Data)
		}
		require.Len(t, classes, 32, "every multiple of 8 mod 256")
		require.True(t, classes[128])
	})
	t.Run("unpadded", func(t *testing.T) {
		base := `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
		for c := range 256 {
			hdr := base + strings.Repeat(" ", 512+c-len(base))
			file := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
			file = append(append(file, hdr...), wtF32Bytes(3)...)
			path := wtWriteFile(t, dir, fmt.Sprintf("u%d.safetensors", c), file)
			ts, err := Read(path)
			require.NoError(t, err, "header length %d, first bytes % x", len(hdr), file[:2])
			require.Equal(t, []float32{3}, ts["a"].Data)
		}
	})
}

// TestSniffFormats pins the format recognised for each kind of head,
// including the near misses between formats.
func TestSniffFormats(t *testing.T) {
	st := func(n uint64, rest string) []byte { return append(binary.LittleEndian.AppendUint64(nil, n), rest...) }
	legacy := wtLegacyHeader()
	frame := append([]byte{opProto, 4, opFrame, 12, 0, 0, 0, 0, 0, 0, 0}, legacy[2:]...)
	for _, tc := range []struct {
		name string
		head []byte
		want weightsFormat
	}{
		{"safetensors", st(0x90, `{"a":1}`), formatSafetensors},
		{"safetensors PROTO 2 low bytes", st(0x0280, `{}`), formatSafetensors},
		{"safetensors PROTO 5 low bytes", st(0x0580, `{}`), formatSafetensors},
		{"safetensors header too long", st(100_000_001, `{}`), formatUnknown},
		{"safetensors without {", st(0x80, `[]`), formatUnknown},
		{"zip", []byte("PK\x03\x04\x00\x00\x08\x08\x00\x00"), formatTorchZip},
		{"legacy", legacy, formatTorchLegacy},
		{"legacy with FRAME", frame, formatTorchLegacy},
		{"pickle without magic", []byte{opProto, 2, opBinInt1, 7, opStop}, formatPickle},
		{"pickle protocol 18", []byte{opProto, 18, 0, 0, 0, 0, 0, 0, 'x'}, formatUnknown},
		{"tar", append(make([]byte, 257), "ustar\x0000"...), formatTorchTar},
		{"text", []byte("hello, world"), formatUnknown},
		{"empty", nil, formatUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, sniffHead(tc.head))
		})
	}
}
