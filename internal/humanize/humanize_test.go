package humanize

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{90 << 20, "90.0 MiB"}, {3 << 29, "1.5 GiB"}, {2 << 40, "2.0 TiB"}, {-2048, "-2.0 KiB"},
	} {
		require.Equal(t, c.want, Bytes(c.n), "%d", c.n)
	}
}
