package checkpoint

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSafetensorsHeader fuzzes the header parser with a header and a data
// buffer size. Whatever the parser accepts must describe a buffer it tiles
// exactly, and a file built from it must then read without error.
func FuzzSafetensorsHeader(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "weights-hand.safetensors")); err == nil && len(b) > 8 {
		n := binary.LittleEndian.Uint64(b)
		if n <= uint64(len(b)-8) {
			f.Add(b[8:8+n], uint32(uint64(len(b))-8-n))
		}
	}
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), uint32(8))
	f.Add([]byte(`{"a":{"dtype":"F16","shape":[],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[0,3],"data_offsets":[2,2]}}`), uint32(2))
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"x":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8],"y":[]}}  `), uint32(8))
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}`), uint32(32))
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[8,0]}}`), uint32(0))
	f.Fuzz(func(t *testing.T, hdr []byte, bufSize uint32) {
		entries, err := parseSafetensorsHeader(hdr, int64(bufSize))
		if err != nil {
			return
		}
		var total int64
		for _, e := range entries {
			if e.begin < 0 || e.end < e.begin || e.end > int64(bufSize) || e.end-e.begin != e.numel*e.dtype.size() {
				t.Fatalf("accepted bad entry %+v for buffer %d", e, bufSize)
			}
			total += e.end - e.begin
		}
		if total != int64(bufSize) {
			t.Fatalf("accepted entries covering %d of %d bytes", total, bufSize)
		}
		if bufSize > 1<<20 {
			return
		}
		file := make([]byte, 8+len(hdr)+int(bufSize))
		binary.LittleEndian.PutUint64(file, uint64(len(hdr)))
		copy(file[8:], hdr)
		ts, err := safetensorsRead(weightsSourceBytes(file))
		if err != nil {
			// Only the 8-bit float dtypes parse but do not convert.
			for _, e := range entries {
				if e.dtype == dtF8E4M3 || e.dtype == dtF8E5M2 {
					return
				}
			}
			t.Fatalf("header accepted but file rejected: %v", err)
		}
		for name, tt := range ts {
			n := 1
			for _, d := range tt.Shape {
				n *= d
			}
			if n != len(tt.Data) || tt.Name != name {
				t.Fatalf("tensor %q: shape %v but %d values", name, tt.Shape, len(tt.Data))
			}
		}
	})
}
