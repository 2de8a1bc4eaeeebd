package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// wtWriteBig writes a safetensors file of two F32 tensors of n values each,
// dated an hour ago (as a model file is), and returns its path.
func wtWriteBig(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	a, b := make([]float32, n), make([]float32, n)
	for i := range a {
		a[i], b[i] = float32(i), -float32(i)
	}
	require.NoError(t, WriteSafetensors(path, []*Tensor{{Name: "a", Shape: []int{n}, Data: a}, {Name: "b", Shape: []int{n}, Data: b}}))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(path, old, old))
	return path
}

// TestReadFileTruncatedWhileOpen truncates a mapped checkpoint between
// reads, as a concurrent `cp` or a crashed download does: the next read
// touches pages past the new end of the file, which is a SIGBUS in a plain
// mapping. It must be an error naming the file.
func TestReadFileTruncatedWhileOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"truncated to the header", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 200)) }},
		{"truncated to nothing", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) }},
		{"overwritten in place", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteAt(make([]byte, 4096), 1<<20)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := wtWriteBig(t, 1<<20)
			f, err := Open(path)
			require.NoError(t, err)
			defer f.Close()
			ts, err := f.Read("a")
			require.NoError(t, err)
			require.Equal(t, float32(12345), ts["a"].Data[12345])

			tc.change(t, path)
			_, err = f.Read("b")
			require.ErrorIs(t, err, errFileChanged)
			require.ErrorContains(t, err, path)
			_, err = f.Read("a")
			require.ErrorIs(t, err, errFileChanged, "every later read fails too")
		})
	}
}

// TestReadTruncatedDuringConversion truncates a 32 MiB checkpoint while
// Read converts it. Whatever the timing, Read returns the whole file or an
// error naming it (that it changed, or, when the truncation came first, that
// it is too short); it never crashes.
func TestReadTruncatedDuringConversion(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 32 MiB files")
	}
	faults := 0
	for i := range 4 {
		path := wtWriteBig(t, 4<<20)
		done := make(chan error, 1)
		go func() {
			_, err := Read(path)
			done <- err
		}()
		time.Sleep(time.Duration(i) * 2 * time.Millisecond)
		require.NoError(t, os.Truncate(path, 4096))
		if err := <-done; err != nil {
			require.ErrorContains(t, err, path)
			if errors.Is(err, errFileChanged) {
				faults++
			}
		}
	}
	t.Logf("%d of 4 reads saw the file change under them", faults)
}

// TestReadZipTruncatedWhileOpen is TestReadFileTruncatedWhileOpen for a
// PyTorch zip checkpoint, whose stored records are read in place.
func TestReadZipTruncatedWhileOpen(t *testing.T) {
	const n = 1 << 20
	pkl := wtStateDict(
		wtTensorSpec{name: "a", class: "FloatStorage", key: "0", numel: n, shape: []int{n}, stride: []int{1}},
		wtTensorSpec{name: "b", class: "FloatStorage", key: "1", numel: n, shape: []int{n}, stride: []int{1}})
	data := make([]byte, 4*n)
	path := wtWriteZip(t, t.TempDir(), "model.pt", wtRecord{"m/data.pkl", pkl}, wtRecord{"m/data/0", data}, wtRecord{"m/data/1", data})
	f, err := Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Read("a")
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, 4*n))
	_, err = f.Read("b")
	require.ErrorIs(t, err, errFileChanged)
	require.ErrorContains(t, err, path)
}
