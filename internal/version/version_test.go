package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	s := String()
	require.True(t, strings.HasSuffix(s, runtime.Version()), s)
	if c := Commit(); c != "" {
		require.Contains(t, s, strings.TrimSuffix(c, "+dirty")[:7])
		require.LessOrEqual(t, len(strings.TrimSuffix(c, "+dirty")), 12)
	}
}
