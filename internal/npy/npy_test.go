package npy

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// read parses what Writer writes, following the .npy 1.0 layout.
func read(t *testing.T, b []byte) (rows, cols int, data []float32) {
	t.Helper()
	require.Equal(t, "\x93NUMPY\x01\x00", string(b[:8]))
	hl := int(binary.LittleEndian.Uint16(b[8:]))
	require.Zero(t, (10+hl)%64, "header padded to 64 bytes")
	dict := string(b[10 : 10+hl])
	m := regexp.MustCompile(`^\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \} *\n$`).FindStringSubmatch(dict)
	require.NotNil(t, m, "header %q", dict)
	rows, _ = strconv.Atoi(m[1])
	cols, _ = strconv.Atoi(m[2])
	body := b[10+hl:]
	require.Len(t, body, 4*rows*cols)
	for i := 0; i < len(body); i += 4 {
		data = append(data, math.Float32frombits(binary.LittleEndian.Uint32(body[i:])))
	}
	return rows, cols, data
}

func TestWriter(t *testing.T) {
	for _, n := range []int{0, 1, 3, 123457} {
		p := filepath.Join(t.TempDir(), "a.npy")
		f, err := os.Create(p)
		require.NoError(t, err)
		w, err := NewWriter(f, 2)
		require.NoError(t, err)
		var want []float32
		for i := range n {
			row := []float32{float32(i), -float32(i) / 3}
			want = append(want, row...)
			require.NoError(t, w.Write(row))
		}
		require.ErrorContains(t, w.Write([]float32{1}), "row of 1 values, the array has 2 columns")
		require.NoError(t, w.Close())
		require.NoError(t, f.Close())
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		rows, cols, data := read(t, b)
		require.Equal(t, [2]int{n, 2}, [2]int{rows, cols})
		require.Equal(t, want, data)
	}
	_, err := NewWriter(nil, 0)
	require.Error(t, err)
}
