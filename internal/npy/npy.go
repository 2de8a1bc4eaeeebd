// Package npy writes NumPy .npy files (format version 1.0): a float32
// matrix whose row count is known only at the end, as vkdeit embed
// produces it. numpy.load reads the result.
package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// headerLen is the fixed size of the header this package writes (magic,
// version, length and the padded dictionary): a multiple of 64 as NumPy
// recommends, with room for any row count.
const headerLen = 128

// Writer streams float32 rows of a fixed width into an .npy file. The file
// must be seekable: Close writes the final shape into the header.
type Writer struct {
	w    io.WriteSeeker
	cols int
	rows int
	buf  []byte
	err  error
}

// NewWriter starts an [N, cols] little-endian float32 array on w.
func NewWriter(w io.WriteSeeker, cols int) (*Writer, error) {
	if cols < 1 {
		return nil, fmt.Errorf("npy: %d columns", cols)
	}
	nw := &Writer{w: w, cols: cols, buf: make([]byte, 4*cols)}
	if _, err := w.Write(header(0, cols)); err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return nw, nil
}

// header is the .npy header for a [rows, cols] float32 C-order array.
func header(rows, cols int) []byte {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	h := make([]byte, headerLen)
	copy(h, "\x93NUMPY\x01\x00")
	binary.LittleEndian.PutUint16(h[8:], headerLen-10)
	n := copy(h[10:], dict)
	for i := 10 + n; i < headerLen-1; i++ {
		h[i] = ' '
	}
	h[headerLen-1] = '\n'
	return h
}

// Write appends one row of exactly cols values.
func (nw *Writer) Write(row []float32) error {
	if nw.err != nil {
		return nw.err
	}
	if len(row) != nw.cols {
		return fmt.Errorf("npy: row of %d values, the array has %d columns", len(row), nw.cols)
	}
	for i, v := range row {
		binary.LittleEndian.PutUint32(nw.buf[4*i:], math.Float32bits(v))
	}
	if _, err := nw.w.Write(nw.buf); err != nil {
		nw.err = fmt.Errorf("npy: %w", err)
		return nw.err
	}
	nw.rows++
	return nil
}

// Rows is the number of rows written.
func (nw *Writer) Rows() int { return nw.rows }

// Close writes the final shape into the header; the caller closes the file.
func (nw *Writer) Close() error {
	if nw.err != nil {
		return nw.err
	}
	if _, err := nw.w.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if _, err := nw.w.Write(header(nw.rows, nw.cols)); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	_, err := nw.w.Seek(0, io.SeekEnd)
	return err
}
