package checkpoint

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenIndexThenRead checks that Open lists every tensor with its shape
// and dtype without converting anything, and that Read converts exactly the
// tensors asked for, with the same values as Read of the whole file.
func TestOpenIndexThenRead(t *testing.T) {
	exp := wtLoadExpected(t)
	for _, file := range []string{"weights-zip.pt", "weights-legacy.pt", "weights-fb.pth", "weights-fb-legacy.pth", "weights-bigendian.pt", "weights-hand.safetensors"} {
		t.Run(file, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", file))
			require.NoError(t, err)
			defer f.Close()
			idx := f.Index()
			require.Len(t, idx, len(exp[file]))
			for _, in := range idx {
				want, ok := exp[file][in.Name]
				require.True(t, ok, in.Name)
				require.Equal(t, want.Shape, in.Shape, in.Name)
				require.Equal(t, len(want.Values), in.Numel(), in.Name)
				require.NotEmpty(t, in.DType)
				got, ok := f.Info(in.Name)
				require.True(t, ok)
				require.Equal(t, in, got)
			}
			one := idx[len(idx)-1].Name
			ts, err := f.Read(one)
			require.NoError(t, err)
			require.Len(t, ts, 1)
			require.Len(t, ts[one].Data, len(exp[file][one].Values))
			all, err := f.ReadAll()
			require.NoError(t, err)
			wtRequireTensors(t, file, exp, all)
			require.Equal(t, all[one].Data, ts[one].Data)

			_, err = f.Read(one, "no.such.tensor")
			require.ErrorContains(t, err, `no tensor "no.such.tensor" in the checkpoint`)
			require.NoError(t, f.Close())
			require.NoError(t, f.Close(), "closing twice")
			_, err = f.Read(one)
			require.ErrorContains(t, err, "Read after Close")
		})
	}
}

// TestErrorsQuoteNamesShort checks that names from a file are echoed escaped
// and cut, never in full.
func TestErrorsQuoteNamesShort(t *testing.T) {
	long := "\x1b[31m" + string(make([]byte, 10_000))
	hdr := `{"\u001b[31mx":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`
	_, err := parseSafetensorsHeader([]byte(hdr), 8)
	require.Error(t, err)
	require.Contains(t, err.Error(), `"\x1b[31mx"`)
	require.NotContains(t, err.Error(), "\x1b")
	require.Less(t, len(quoteShort(long)), 300, "64 bytes, each at most 4 characters escaped")
	require.Contains(t, quoteShort(long), "(10005 bytes)")
	require.Equal(t, "os.system", plainShort("os.system"))
	require.Equal(t, `"a\nb"`, plainShort("a\nb"))
}
