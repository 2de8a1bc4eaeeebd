package checkpoint

import (
	"encoding/binary"
	"testing"
)

// fuzzCheckRead reads data as format want and checks what a successful read
// promises: the index and the tensors agree, every tensor has as many values
// as its shape says, and the output stays within the file's budget.
func fuzzCheckRead(t *testing.T, data []byte, want weightsFormat) {
	src := weightsSourceBytes(data)
	index, read, err := indexSource(src, want)
	if err != nil {
		return
	}
	names := make([]string, len(index))
	seen := make(map[string]bool, len(index))
	var total int64
	for i, in := range index {
		if seen[in.Name] {
			t.Fatalf("index lists %q twice", in.Name)
		}
		seen[in.Name] = true
		names[i] = in.Name
		n := int64(1)
		for _, d := range in.Shape {
			if d < 0 {
				t.Fatalf("tensor %q: negative dimension in %v", in.Name, in.Shape)
			}
			n *= int64(d)
		}
		total += n
	}
	if total > 1<<16 {
		// Large outputs are bounded by torchBudget (see the unit tests);
		// converting them here would only slow the fuzzer down.
		return
	}
	ts, err := read(names)
	if err != nil {
		return
	}
	if len(ts) != len(index) {
		t.Fatalf("read %d tensors of %d", len(ts), len(index))
	}
	for _, in := range index {
		tt := ts[in.Name]
		if tt == nil || tt.Name != in.Name || len(tt.Data) != in.Numel() || len(tt.Shape) != len(in.Shape) {
			t.Fatalf("tensor %q: index %+v, read %+v", in.Name, in, tt)
		}
	}
}

// FuzzSniff fuzzes format recognition and, through it, every reader Read
// dispatches to. The formats a head is recognised as must be exclusive:
// bytes taken for safetensors are never a zip or a torch stream.
func FuzzSniff(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds, for up to
	// a minute each, and that grows with the input.
	spec := wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, shape: []int{4}, stride: []int{1}}
	f.Add(wtZipBytes(wtRecord{"m/data.pkl", wtStateDict(spec)}, wtRecord{"m/data/0", wtF32Bytes(1, 2, 3, 4)}))
	f.Add(wtLegacyFile(wtStateDict(spec), []string{"0"}, map[string][]byte{"0": wtF32Bytes(1, 2, 3, 4)}))
	st := binary.LittleEndian.AppendUint64(nil, 0x0280)
	f.Add(append(st, `{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`...))
	f.Add([]byte("PK\x03\x04\x00\x00\x00\x00{"))
	f.Add([]byte{opProto, 2, opBinInt1, 7, opStop})
	f.Add(append(make([]byte, 257), "ustar\x0000"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := sniffHead(data[:min(len(data), weightsSniffLen)])
		if got == formatSafetensors && (len(data) < 9 || data[8] != '{') {
			t.Fatalf("safetensors without '{' at byte 8")
		}
		if got == formatTorchLegacy && !torchLegacyHead(data) {
			t.Fatalf("legacy without the magic number")
		}
		fuzzCheckRead(t, data, formatUnknown)
	})
}

// FuzzTorchZip fuzzes the zip checkpoint reader (central directory,
// data.pkl, byteorder and storage records) on whole files.
func FuzzTorchZip(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds, for up to
	// a minute each, and that grows with the input.
	okSpec := wtTensorSpec{name: "w", class: "HalfStorage", key: "0", numel: 6, offset: 1, shape: []int{2, 2}, stride: []int{1, 2}}
	f.Add(wtZipBytes(wtRecord{"a/data.pkl", wtStateDict(okSpec)}, wtRecord{"a/data/0", make([]byte, 12)}, wtRecord{"a/byteorder", []byte("little")}))
	f.Add([]byte("PK\x03\x04 truncated"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheckRead(t, data, formatAnyTorch)
	})
}

// FuzzTorchLegacy fuzzes the legacy torch.save stream reader (five pickles
// and the raw storages after them).
func FuzzTorchLegacy(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds, for up to
	// a minute each, and that grows with the input.
	spec := wtTensorSpec{name: "w", class: "FloatStorage", key: "0", numel: 4, shape: []int{2, 2}, stride: []int{1, 2}}
	f.Add(wtLegacyFile(wtStateDict(spec), []string{"0"}, map[string][]byte{"0": wtF32Bytes(1, 2, 3, 4)}))
	f.Add(wtLegacyHeader())
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheckRead(t, data, formatAnyTorch)
	})
}
