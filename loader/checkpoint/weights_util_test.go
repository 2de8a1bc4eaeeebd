package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Helpers shared by the weights tests: a tiny pickle writer and zip/legacy
// checkpoint builders for hostile files.

// wtPickle emits pickle opcodes.
type wtPickle struct{ b bytes.Buffer }

func (p *wtPickle) op(b ...byte) *wtPickle { p.b.Write(b); return p }

func (p *wtPickle) str(s string) *wtPickle {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	p.b.WriteByte(opBinUnicode)
	p.b.Write(n[:])
	p.b.WriteString(s)
	return p
}

func (p *wtPickle) int(v int) *wtPickle {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(int32(v)))
	p.b.WriteByte(opBinInt)
	p.b.Write(n[:])
	return p
}

func (p *wtPickle) global(module, name string) *wtPickle {
	p.b.WriteByte(opGlobal)
	p.b.WriteString(module + "\n" + name + "\n")
	return p
}

func (p *wtPickle) ints(vs ...int) *wtPickle {
	p.op(opMark)
	for _, v := range vs {
		p.int(v)
	}
	return p.op(opTuple)
}

// tensor emits a _rebuild_tensor_v2 call over persistent storage key.
func (p *wtPickle) tensor(storageClass, key string, numel, offset int, shape, stride []int) *wtPickle {
	p.global("torch._utils", "_rebuild_tensor_v2").op(opMark)
	p.op(opMark).str("storage").global("torch", storageClass).str(key).str("cpu").int(numel).op(opTuple, opBinPersID)
	p.int(offset).ints(shape...).ints(stride...).op(opNewFalse)
	p.global("collections", "OrderedDict").op(opEmptyTuple, opReduce)
	return p.op(opTuple, opReduce)
}

func (p *wtPickle) bytes() []byte { return append([]byte(nil), p.b.Bytes()...) }

// wtTensorSpec describes one tensor of a hand-made state dict.
type wtTensorSpec struct {
	name, class, key string
	numel, offset    int
	shape, stride    []int
}

// wtStateDict returns a protocol-2 pickle of {name: tensor, ...}.
func wtStateDict(specs ...wtTensorSpec) []byte {
	p := &wtPickle{}
	p.op(opProto, 2, opEmptyDict, opMark)
	for _, s := range specs {
		p.str(s.name).tensor(s.class, s.key, s.numel, s.offset, s.shape, s.stride)
	}
	return p.op(opSetItems, opStop).bytes()
}

// wtRecord is one record of a hand-made zip checkpoint.
type wtRecord struct {
	name string
	data []byte
}

// wtWriteZip writes records (stored, uncompressed) to a new file in dir.
func wtWriteZip(t *testing.T, dir, file string, recs ...wtRecord) string {
	t.Helper()
	path := filepath.Join(dir, file)
	require.NoError(t, os.WriteFile(path, wtZipBytes(recs...), 0o644))
	return path
}

// wtZipBytes is a zip archive of records, stored uncompressed.
func wtZipBytes(recs ...wtRecord) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range recs {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: r.name, Method: zip.Store})
		if err != nil {
			panic(err)
		}
		if _, err := w.Write(r.data); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// wtF32Bytes encodes float32 values little-endian.
func wtF32Bytes(vs ...float32) []byte {
	out := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

// wtLegacyHeader returns the magic, protocol and sys_info pickles that open a
// legacy torch.save stream.
func wtLegacyHeader() []byte {
	p := &wtPickle{}
	// magic 0x1950a86a20f9469cfc6c as LONG1, little-endian
	p.op(opProto, 2, opLong1, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, opStop)
	p.op(opProto, 2, opBinInt2, 0xe9, 0x03, opStop) // 1001
	p.op(opProto, 2, opEmptyDict).str("little_endian").op(opNewTrue, opSetItem, opStop)
	return p.bytes()
}

// wtWriteFile writes b to a new file in dir and returns its path.
func wtWriteFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}
