package checkpoint

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// weightsSource is a read-only view of a weights file: the whole file mapped
// into memory when the platform allows it (so tensors are converted straight
// from the page cache with no intermediate copy), otherwise plain ReadAt calls
// that read one tensor or storage at a time.
type weightsSource struct {
	ra     io.ReaderAt
	size   int64
	mapped []byte // whole file, or nil
	closer func() error
}

// openWeightsSource opens path for reading, mapping it when possible.
func openWeightsSource(path string) (*weightsSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("not a regular file")
	}
	size := st.Size()
	if data, unmap, ok := weightsMmap(f, size); ok {
		// The mapping stays valid after the descriptor is closed.
		f.Close()
		return &weightsSource{ra: bytes.NewReader(data), size: size, mapped: data, closer: unmap}, nil
	}
	return &weightsSource{ra: f, size: size, closer: f.Close}, nil
}

// weightsSourceBytes wraps an in-memory file (tests and fuzzing).
func weightsSourceBytes(b []byte) *weightsSource {
	return &weightsSource{ra: bytes.NewReader(b), size: int64(len(b)), mapped: b, closer: func() error { return nil }}
}

// Close releases the mapping or the file.
func (s *weightsSource) Close() error { return s.closer() }

// bytes returns n bytes at offset off: a sub-slice of the mapping, or a fresh
// buffer filled by ReadAt. The range is checked against the file size before
// anything is allocated.
func (s *weightsSource) bytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return nil, fmt.Errorf("range [%d, %d) is outside the %d-byte file", off, off+n, s.size)
	}
	if s.mapped != nil {
		return s.mapped[off : off+n : off+n], nil
	}
	buf := make([]byte, n)
	if _, err := s.ra.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}
