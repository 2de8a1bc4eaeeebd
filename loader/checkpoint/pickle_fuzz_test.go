package checkpoint

import (
	"archive/zip"
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpickle fuzzes the unpickler, the state-dict extraction and the
// tensor layout checks (with zero-filled storages), and the legacy stream
// reader on the same bytes. Nothing may panic or hang.
func FuzzUnpickle(f *testing.F) {
	for _, name := range []string{"weights-zip.pt", "weights-fb.pth", "weights-bigendian.pt"} {
		zr, err := zip.OpenReader(filepath.Join("testdata", name))
		if err != nil {
			continue
		}
		for _, zf := range zr.File {
			if filepath.Base(zf.Name) == "data.pkl" {
				if rc, err := zf.Open(); err == nil {
					if b, err := io.ReadAll(rc); err == nil {
						f.Add(b)
					}
					rc.Close()
				}
			}
		}
		zr.Close()
	}
	for _, name := range []string{"weights-legacy.pt", "weights-fb-legacy.pth"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add(wtStateDict(wtTensorSpec{name: "w", class: "HalfStorage", key: "0", numel: 6, offset: 1, shape: []int{2, 2}, stride: []int{1, 2}}))
	f.Add((&wtPickle{}).op(opProto, 2).global("os", "system").str("ls").op(opTuple1, opReduce, opStop).bytes())
	f.Add([]byte{opProto, 4, opFrame, 3, 0, 0, 0, 0, 0, 0, 0, opEmptyList, opMemoize, opStop})
	f.Add([]byte{opProto, 2, opEmptyList, opBinPut, 0, opBinGet, 0, opAppend, opStop})
	f.Fuzz(func(t *testing.T, data []byte) {
		storages := make(map[string]*torchStorage)
		v, _, err := unpickle(bufio.NewReader(bytes.NewReader(data)), int64(len(data)), func(pid any) (any, error) {
			return torchPersistent(pid, storages, false)
		})
		if err == nil {
			if refs, err := torchStateDict(v); err == nil {
				load := func(st *torchStorage) ([]byte, error) {
					if st.numel > 1<<16 {
						return nil, io.ErrShortBuffer
					}
					return make([]byte, st.numel*st.dtype.size()), nil
				}
				torchMaterialize(refs, load, false, torchBudget(int64(len(data))))
			}
		}
		torchRead(weightsSourceBytes(data))
	})
}
