package checkpoint

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadTorchHandMade reads zip checkpoints assembled here from a
// hand-written pickle, pinning offset/stride/sharing semantics exactly.
func TestReadTorchHandMade(t *testing.T) {
	dir := t.TempDir()
	pkl := wtStateDict(
		wtTensorSpec{name: "a", class: "FloatStorage", key: "0", numel: 6, offset: 0, shape: []int{2, 3}, stride: []int{3, 1}},
		wtTensorSpec{name: "at", class: "FloatStorage", key: "0", numel: 6, offset: 0, shape: []int{3, 2}, stride: []int{1, 3}},
		wtTensorSpec{name: "tail", class: "FloatStorage", key: "0", numel: 6, offset: 4, shape: []int{2}, stride: []int{1}},
		wtTensorSpec{name: "bcast", class: "FloatStorage", key: "0", numel: 6, offset: 5, shape: []int{2, 2}, stride: []int{0, 0}},
		wtTensorSpec{name: "h", class: "HalfStorage", key: "1", numel: 2, offset: 0, shape: []int{2}, stride: []int{1}},
	)
	path := wtWriteZip(t, dir, "ok.pt",
		wtRecord{"anything/data.pkl", pkl},
		wtRecord{"anything/data/0", wtF32Bytes(0, 1, 2, 3, 4, 5)},
		wtRecord{"anything/data/1", []byte{0x00, 0x3c, 0x00, 0xc0}},
		wtRecord{"anything/version", []byte("3\n")},
	)
	ts, err := ReadTorch(path)
	require.NoError(t, err)
	require.Equal(t, []float32{0, 1, 2, 3, 4, 5}, ts["a"].Data)
	require.Equal(t, []float32{0, 3, 1, 4, 2, 5}, ts["at"].Data)
	require.Equal(t, []int{3, 2}, ts["at"].Shape)
	require.Equal(t, []float32{4, 5}, ts["tail"].Data)
	require.Equal(t, []float32{5, 5, 5, 5}, ts["bcast"].Data)
	require.Equal(t, []float32{1, -2}, ts["h"].Data)

	// The same pickle in a deflate-compressed archive reads the same.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range []wtRecord{{"x/data.pkl", pkl}, {"x/data/0", wtF32Bytes(0, 1, 2, 3, 4, 5)}, {"x/data/1", []byte{0x00, 0x3c, 0x00, 0xc0}}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: r.name, Method: zip.Deflate})
		require.NoError(t, err)
		_, err = w.Write(r.data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	ts2, err := Read(wtWriteFile(t, dir, "deflate.pt", buf.Bytes()))
	require.NoError(t, err)
	require.Equal(t, ts, ts2)
}

// TestReadTorchHostile checks that broken and malicious checkpoints fail
// with errors naming the file and the problem.
func TestReadTorchHostile(t *testing.T) {
	dir := t.TempDir()
	one := func(spec wtTensorSpec) []byte { return wtStateDict(spec) }
	okSpec := wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, shape: []int{4}, stride: []int{1}}
	four := wtF32Bytes(1, 2, 3, 4)

	osSystem := (&wtPickle{}).op(opProto, 2).global("os", "system").str("echo pwned").op(opTuple1, opReduce, opStop).bytes()
	evalStack := (&wtPickle{}).op(opProto, 4, opShortBinUni, 8).op([]byte("builtins")...).op(opShortBinUni, 4).op([]byte("eval")...).
		op(opStackGlobal).str("1+1").op(opTuple1, opReduce, opStop).bytes()
	// os.system hidden as a value inside an otherwise valid state dict.
	hidden := (&wtPickle{}).op(opProto, 2, opEmptyDict).str("w").tensor("FloatStorage", "0", 4, 0, []int{4}, []int{1}).
		str("x").global("os", "system").op(opSetItem, opSetItem, opStop).bytes()
	module := (&wtPickle{}).op(opProto, 2).global("torch.nn.modules.linear", "Linear").op(opEmptyTuple, opNewObj, opStop).bytes()
	badPID := (&wtPickle{}).op(opProto, 2, opEmptyDict).str("w").global("torch._utils", "_rebuild_tensor_v2").op(opMark).
		op(opMark).str("storage").global("collections", "OrderedDict").str("0").str("cpu").int(4).op(opTuple, opBinPersID).
		int(0).ints(4).ints(1).op(opNewFalse, opNone, opTuple, opReduce, opSetItem, opStop).bytes()

	var amplify []wtTensorSpec
	for i := 0; i < 20; i++ {
		amplify = append(amplify, wtTensorSpec{name: fmt.Sprint("w", i), class: "FloatStorage", key: "0", numel: 4, shape: []int{1 << 20}, stride: []int{0}})
	}

	cases := []struct {
		name string
		recs []wtRecord
		raw  []byte // instead of recs: the whole file
		msgs []string
	}{
		{name: "os.system GLOBAL", recs: []wtRecord{{"a/data.pkl", osSystem}}, msgs: []string{"a/data.pkl", "disallowed global os.system"}},
		{name: "builtins.eval STACK_GLOBAL", recs: []wtRecord{{"a/data.pkl", evalStack}}, msgs: []string{"disallowed global builtins.eval"}},
		{name: "os.system as a value", recs: []wtRecord{{"a/data.pkl", hidden}, {"a/data/0", four}}, msgs: []string{"disallowed global os.system"}},
		{name: "pickled module", recs: []wtRecord{{"a/data.pkl", module}}, msgs: []string{"disallowed global torch.nn.modules.linear.Linear"}},
		{name: "storage class not a storage", recs: []wtRecord{{"a/data.pkl", badPID}}, msgs: []string{"persistent id names collections.OrderedDict, not a torch storage class"}},
		{name: "zip without data.pkl", recs: []wtRecord{{"a/data/0", four}, {"a/version", []byte("3\n")}}, msgs: []string{"no <dir>/data.pkl"}},
		{name: "missing data record", recs: []wtRecord{{"a/data.pkl", one(okSpec)}}, msgs: []string{`storage "0"`, "record a/data/0 is missing"}},
		{name: "record shorter than storage", recs: []wtRecord{{"a/data.pkl", one(okSpec)}, {"a/data/0", four[:12]}},
			msgs: []string{`storage "0"`, "holds 12 bytes, but 4 F32 elements need 16"}},
		{name: "extent beyond storage", recs: []wtRecord{{"a/data.pkl", one(wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, offset: 2, shape: []int{2, 2}, stride: []int{2, 1}})}, {"a/data/0", four}},
			msgs: []string{`tensor "w"`, "reach element 5, but the storage holds 4"}},
		{name: "huge expanded view", recs: []wtRecord{{"a/data.pkl", one(wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, shape: []int{1 << 22}, stride: []int{0}})}, {"a/data/0", four}},
			msgs: []string{`tensor "w"`, "expanded views"}},
		{name: "views amplify the file", recs: []wtRecord{{"a/data.pkl", wtStateDict(amplify...)}, {"a/data/0", four}},
			msgs: []string{"tensors expand to more than", `at tensor "w16"`}},
		{name: "storage redeclared", recs: []wtRecord{{"a/data.pkl", wtStateDict(okSpec, wtTensorSpec{name: "v", class: "HalfStorage", key: "0", numel: 4, shape: []int{4}, stride: []int{1}})}, {"a/data/0", four}},
			msgs: []string{`storage "0" is declared twice`}},
		{name: "huge storage numel", recs: []wtRecord{{"a/data.pkl", one(wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 1 << 30, shape: []int{4}, stride: []int{1}})}, {"a/data/0", four}},
			msgs: []string{"holds 16 bytes, but 1073741824 F32 elements need 4294967296"}},
		{name: "rank mismatch", recs: []wtRecord{{"a/data.pkl", one(wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, shape: []int{2, 2}, stride: []int{1}})}, {"a/data/0", four}},
			msgs: []string{"differ in rank"}},
		{name: "not a dict", recs: []wtRecord{{"a/data.pkl", []byte{opProto, 2, opEmptyList, opStop}}}, msgs: []string{"holds a list, not a dict of tensors"}},
		{name: "no tensors", recs: []wtRecord{{"a/data.pkl", (&wtPickle{}).op(opProto, 2, opEmptyDict).str("epoch").int(3).op(opSetItem, opStop).bytes()}},
			msgs: []string{"no tensors found (dict keys: epoch)"}},
		{name: "truncated pickle", recs: []wtRecord{{"a/data.pkl", one(okSpec)[:40]}}, msgs: []string{"unexpected end of data"}},
		{name: "bad byteorder", recs: []wtRecord{{"a/data.pkl", one(okSpec)}, {"a/data/0", four}, {"a/byteorder", []byte("middle")}}, msgs: []string{`unknown byte order "middle"`}},
		{name: "duplicate record", recs: []wtRecord{{"a/data.pkl", one(okSpec)}, {"a/data/0", four}, {"a/data/0", wtF32Bytes(5, 6, 7, 8)}},
			msgs: []string{"zip holds two records named a/data/0"}},
		{name: "two data.pkl", recs: []wtRecord{{"a/data.pkl", one(okSpec)}, {"b/data.pkl", one(okSpec)}}, msgs: []string{"zip holds both a/data.pkl and b/data.pkl"}},
		{name: "truncated zip", raw: []byte("PK\x03\x04 truncated"), msgs: []string{"zip:"}},
		{name: "tar", raw: append(make([]byte, 257), "ustar\x0000"...), msgs: []string{"tar-based torch checkpoint"}},
		{name: "legacy os.system", raw: append(wtLegacyHeader(), osSystem...), msgs: []string{"legacy torch checkpoint, object", "disallowed global os.system"}},
		{name: "legacy bad magic", raw: []byte{opProto, 2, opBinInt1, 7, opStop}, msgs: []string{"without the torch magic number"}},
		{name: "legacy missing storage data", raw: wtLegacyFile(one(okSpec), []string{"0"}, nil), msgs: []string{`storage "0": size record`}},
		{name: "legacy storage past end", raw: wtLegacyFile(one(okSpec), []string{"0"}, map[string][]byte{"0": four[:8]}), msgs: []string{`storage "0": 16 bytes run past the end`}},
		{name: "legacy unknown key", raw: wtLegacyFile(one(okSpec), []string{"9"}, nil), msgs: []string{`storage "9" in the key list is not used`}},
		{name: "legacy no data for storage", raw: wtLegacyFile(one(okSpec), nil, nil), msgs: []string{`storage "0" has no data record`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.NewReplacer(" ", "-", ".", "-").Replace(tc.name) + ".pt"
			var path string
			if tc.raw != nil {
				path = wtWriteFile(t, dir, name, tc.raw)
			} else {
				path = wtWriteZip(t, dir, name, tc.recs...)
			}
			for _, read := range []func(string) (map[string]*Tensor, error){ReadTorch, Read} {
				_, err := read(path)
				require.Error(t, err)
				require.ErrorContains(t, err, path)
				for _, m := range tc.msgs {
					require.ErrorContains(t, err, m)
				}
			}
		})
	}
}

// wtLegacyFile builds a legacy-format checkpoint around an object pickle
// whose persistent ids are zip-style 5-tuples (rewritten to 6-tuples).
func wtLegacyFile(obj []byte, keys []string, data map[string][]byte) []byte {
	obj = bytes.ReplaceAll(obj, []byte{opTuple, opBinPersID}, []byte{opNone, opTuple, opBinPersID})
	p := &wtPickle{}
	p.op(opProto, 2, opMark)
	for _, k := range keys {
		p.str(k)
	}
	p.op(opList, opStop)
	out := append(wtLegacyHeader(), obj...)
	out = append(out, p.bytes()...)
	for _, k := range keys {
		if d, ok := data[k]; ok {
			var n [8]byte
			binary.LittleEndian.PutUint64(n[:], 4)
			out = append(out, n[:]...)
			out = append(out, d...)
		}
	}
	return out
}

// TestReadTorchLegacyHandMade checks the legacy reader on a stream built
// here, including a view storage.
func TestReadTorchLegacyHandMade(t *testing.T) {
	spec := wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, shape: []int{2, 2}, stride: []int{1, 2}}
	raw := wtLegacyFile(wtStateDict(spec), []string{"0"}, map[string][]byte{"0": wtF32Bytes(1, 2, 3, 4)})
	path := wtWriteFile(t, t.TempDir(), "legacy.pt", raw)
	ts, err := Read(path)
	require.NoError(t, err)
	require.Equal(t, []float32{1, 3, 2, 4}, ts["w"].Data)

	// A view (key "v": elements 1..2 of storage "0").
	obj := (&wtPickle{}).op(opProto, 2, opEmptyDict).str("w").global("torch._utils", "_rebuild_tensor_v2").op(opMark).
		op(opMark).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4).
		op(opMark).str("v").int(1).int(2).op(opTuple, opTuple, opBinPersID).
		int(1).ints(1).ints(1).op(opNewFalse, opNone, opTuple, opReduce, opSetItem, opStop).bytes()
	p := (&wtPickle{}).op(opProto, 2, opMark).str("0").op(opList, opStop)
	raw = append(append(append(wtLegacyHeader(), obj...), p.bytes()...), append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, wtF32Bytes(1, 2, 3, 4)...)...)
	ts, err = ReadTorch(wtWriteFile(t, t.TempDir(), "view.pt", raw))
	require.NoError(t, err)
	require.Equal(t, []float32{3}, ts["w"].Data)
}

// TestReadTorchDropsRecord rewrites the real zip checkpoint without one
// storage record: the error names the record and the file.
func TestReadTorchDropsRecord(t *testing.T) {
	src := filepath.Join("testdata", "weights-zip.pt")
	zr, err := zip.OpenReader(src)
	require.NoError(t, err)
	defer zr.Close()
	var recs []wtRecord
	for _, f := range zr.File {
		if f.Name == "weights-zip/data/0" {
			continue
		}
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		recs = append(recs, wtRecord{f.Name, b})
	}
	path := wtWriteZip(t, t.TempDir(), "dropped.pt", recs...)
	_, err = Read(path)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "record weights-zip/data/0 is missing")
	_, err = os.Stat(path)
	require.NoError(t, err)
}

// TestReadTorchStoredRecordSizeMismatch: a stored record whose central
// directory claims more uncompressed bytes than are stored must not be read
// in place past its end (into the next record); it is an error naming it.
func TestReadTorchStoredRecordSizeMismatch(t *testing.T) {
	spec := wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, shape: []int{4}, stride: []int{1}}
	path := wtWriteZip(t, t.TempDir(), "short.pt",
		wtRecord{"a/data.pkl", wtStateDict(spec)}, wtRecord{"a/data/0", wtF32Bytes(1, 2, 3)}, wtRecord{"a/version", []byte("3\n")})
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	// Central directory entry of a/data/0: uncompressed size (offset 24) 12 → 16.
	i := bytes.Index(b, []byte("PK\x01\x02"))
	patched := false
	for i >= 0 {
		if n := int(binary.LittleEndian.Uint16(b[i+28:])); string(b[i+46:i+46+n]) == "a/data/0" {
			require.Equal(t, uint32(12), binary.LittleEndian.Uint32(b[i+24:]))
			binary.LittleEndian.PutUint32(b[i+24:], 16)
			patched = true
			break
		}
		j := bytes.Index(b[i+4:], []byte("PK\x01\x02"))
		if j < 0 {
			break
		}
		i += 4 + j
	}
	require.True(t, patched)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, err = Read(path)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "a/data/0")
}

// TestReadTorchInflateBound: a compressed record that claims to inflate to
// far more than the file could hold is refused before it is inflated.
func TestReadTorchInflateBound(t *testing.T) {
	const numel = 20 << 20 // 80 MiB of F32, more than 8× this file + 64 MiB
	spec := wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: numel, shape: []int{4}, stride: []int{1}}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("a/data.pkl")
	require.NoError(t, err)
	_, err = w.Write(wtStateDict(spec))
	require.NoError(t, err)
	// A tiny deflate stream whose header claims numel·4 bytes.
	var z bytes.Buffer
	fw, err := flate.NewWriter(&z, flate.BestCompression)
	require.NoError(t, err)
	_, err = fw.Write(make([]byte, 1024))
	require.NoError(t, err)
	require.NoError(t, fw.Close())
	w, err = zw.CreateRaw(&zip.FileHeader{Name: "a/data/0", Method: zip.Deflate,
		CompressedSize64: uint64(z.Len()), UncompressedSize64: 4 * numel})
	require.NoError(t, err)
	_, err = w.Write(z.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	path := wtWriteFile(t, t.TempDir(), "bomb.pt", buf.Bytes())
	_, err = Read(path)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, `storage "0": record a/data/0: storages add up to more than`)
}
