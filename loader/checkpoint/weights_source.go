package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// weightsSource is a read-only view of a weights file: the whole file mapped
// into memory when the platform allows it (so tensors are converted straight
// from the page cache with no intermediate copy), otherwise plain ReadAt calls
// that read one tensor or storage at a time.
//
// A mapped file that shrinks while it is read (truncated, or overwritten by
// cp) would make the next access of a page past its new end a SIGBUS, which
// Go turns into a fatal error. Every access to the mapping therefore runs
// under guard, which makes such a fault an error, and changed reports a file
// whose size or modification time moved since it was opened, so that values
// mixing old and new contents are never used.
type weightsSource struct {
	ra     io.ReaderAt
	size   int64
	mapped []byte // whole file, or nil
	closer func() error

	file    *os.File // kept open to detect changes; nil for in-memory sources
	modTime time.Time
}

// errFileChanged reports a weights file that changed while it was read.
var errFileChanged = errors.New("the file changed while it was being read (truncated or overwritten?); load it again once it is complete")

// openWeightsSource opens path for reading, mapping it when possible. Only
// a regular file (after following symlinks) is opened: a FIFO or a device
// would block open(2) or never end. The open is non-blocking where the
// platform has it, and the opened file is checked again.
func openWeightsSource(path string) (*weightsSource, error) {
	f, st, err := regfile.Open(path)
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if data, unmap, ok := weightsMmap(f, size); ok {
		closer := func() error { return errors.Join(unmap(), f.Close()) }
		return &weightsSource{ra: bytes.NewReader(data), size: size, mapped: data, closer: closer, file: f, modTime: st.ModTime()}, nil
	}
	return &weightsSource{ra: f, size: size, closer: f.Close, file: f, modTime: st.ModTime()}, nil
}

// guard runs read, which reads from s, turning a memory fault on s's
// mapping (the file shrank under it) into errFileChanged. Faults elsewhere
// are not this function's business and panic on.
func (s *weightsSource) guard(read func() error) (err error) {
	if len(s.mapped) == 0 {
		return read()
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r := recover()
		if r == nil {
			return
		}
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			base := uintptr(unsafe.Pointer(unsafe.SliceData(s.mapped)))
			if a := fault.Addr(); a >= base && a-base < uintptr(len(s.mapped)) {
				err = fmt.Errorf("%w (memory fault at byte %d of the %d-byte mapping)", errFileChanged, a-base, len(s.mapped))
				return
			}
		}
		panic(r)
	}()
	return read()
}

// changed reports errFileChanged when the file's size or modification time
// differs from when it was opened.
func (s *weightsSource) changed() error {
	if s.file == nil {
		return nil
	}
	st, err := s.file.Stat()
	if err != nil {
		return fmt.Errorf("checking the file is unchanged: %w", err)
	}
	if st.Size() != s.size || !st.ModTime().Equal(s.modTime) {
		return fmt.Errorf("%w (size %d, now %d; modified %s, now %s)", errFileChanged,
			s.size, st.Size(), s.modTime.Format(time.RFC3339Nano), st.ModTime().Format(time.RFC3339Nano))
	}
	return nil
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
