//go:build !linux

package checkpoint

import "os"

// weightsMmap reports that mapping is not used on this platform; weights are
// read with ReadAt instead.
func weightsMmap(f *os.File, size int64) (data []byte, unmap func() error, ok bool) {
	return nil, nil, false
}
