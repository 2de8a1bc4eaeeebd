package imageio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// openImageFile opens path for reading if it is a regular file, following
// symbolic links, and returns its size (package regfile: a named pipe or a
// device such as /dev/zero is refused without blocking). Errors do not
// repeat the path.
func openImageFile(path string) (*os.File, int64, error) {
	f, fi, err := regfile.Open(path)
	if err != nil {
		return nil, 0, bareError(err)
	}
	return f, fi.Size(), nil
}

// bareError strips the operation and path from an *fs.PathError (Load names
// the file itself); errors.Is still sees fs.ErrNotExist and the like.
func bareError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sniffLen is how many leading bytes identify a format (imageFormat).
const sniffLen = 16

// readImage reads one encoded image from r: first sniffLen bytes, which must
// identify a supported format (else nothing more is read), then the rest, at
// most limit (> 0) bytes in all. size, when not negative, is the length expected
// (a regular file's size), refused at once when over the limit and used to
// allocate once. It returns the data and its format.
func readImage(r io.Reader, size, limit int64) ([]byte, string, error) {
	if size > limit {
		return nil, "", fmt.Errorf("%w: %d bytes, more than the limit of %d bytes (DecodeOptions.MaxBytes)", ErrTooLarge, size, limit)
	}
	head := make([]byte, min(sniffLen, limit))
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, "", fmt.Errorf("read: %w", err)
	}
	format, err := sniffFormat(head[:n])
	if err != nil {
		return nil, "", err
	}
	// Grow to the expected size (plus one byte, to see the end without a
	// reallocation), else from 64 KiB by doubling, never past limit.
	capacity := int64(64 << 10)
	if size >= 0 {
		capacity = size + 1
	}
	data := make([]byte, n, max(int64(n), min(capacity, limit)))
	copy(data, head)
	for {
		if len(data) == cap(data) {
			if int64(len(data)) >= limit {
				if more, err := io.ReadFull(r, head[:1]); more > 0 {
					return nil, "", fmt.Errorf("%w: more than the limit of %d bytes (DecodeOptions.MaxBytes)", ErrTooLarge, limit)
				} else if err != io.EOF {
					return nil, "", fmt.Errorf("read: %w", err)
				}
				return data, format, nil
			}
			grown := make([]byte, len(data), min(2*int64(cap(data)), limit))
			copy(grown, data)
			data = grown
		}
		m, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+m]
		if err == io.EOF {
			return data, format, nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("read: %w", err)
		}
	}
}
