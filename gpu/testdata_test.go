package gpu_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTestdataSPIRV checks that every committed testdata/*.spv is what
// glslc makes from its .comp source and passes spirv-val. Skipped (or, for
// spirv-val alone, not validated) where the tools are missing, except under
// CI, where a missing tool is a failure.
func TestTestdataSPIRV(t *testing.T) {
	glslc, err := exec.LookPath("glslc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("glslc not found (Debian: glslc)")
		}
		t.Skip("glslc not found")
	}
	val, err := exec.LookPath("spirv-val")
	if err != nil && os.Getenv("CI") != "" {
		t.Fatal("spirv-val not found (Debian: spirv-tools)")
	}
	sources, err := filepath.Glob("testdata/*.comp")
	require.NoError(t, err)
	require.NotEmpty(t, sources)
	for _, src := range sources {
		spv := strings.TrimSuffix(src, ".comp") + ".spv"
		out := filepath.Join(t.TempDir(), filepath.Base(spv))
		cmd := exec.Command(glslc, "--target-env=vulkan1.1", "-O", src, "-o", out)
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", src, msg)
		want, err := os.ReadFile(out)
		require.NoError(t, err)
		got, err := os.ReadFile(spv)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s is stale: rebuild with glslc --target-env=vulkan1.1 -O %s -o %s", spv, src, spv)
		if val != "" {
			msg, err := exec.Command(val, "--target-env", "vulkan1.1", spv).CombinedOutput()
			require.NoError(t, err, "spirv-val %s: %s", spv, msg)
		}
	}
}
