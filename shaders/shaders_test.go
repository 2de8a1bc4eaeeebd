package shaders

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tool returns the path of a shader tool, skipping the test when it is absent
// and $CI is unset, failing when $CI is set (as the Vulkan tests do).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found with CI set (install glslc and spirv-tools): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

func sources(t *testing.T) []string {
	t.Helper()
	srcs, err := filepath.Glob("*.comp")
	require.NoError(t, err)
	require.NotEmpty(t, srcs, "no .comp sources")
	return srcs
}

// TestCommittedSPIRVMatchesSource recompiles every kernel exactly as build.sh
// does and requires the committed .spv to be byte-identical.
func TestCommittedSPIRVMatchesSource(t *testing.T) {
	glslc := tool(t, "glslc")
	dir := t.TempDir()
	for _, src := range sources(t) {
		name := strings.TrimSuffix(src, ".comp")
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name+".spv")
			cmd := exec.Command(glslc, "--target-env=vulkan1.1", "-O", "-I", ".", "-o", out, src)
			msg, err := cmd.CombinedOutput()
			require.NoError(t, err, "glslc %s: %s", src, msg)
			want, err := os.ReadFile(out)
			require.NoError(t, err)
			got, err := SPIRV(name)
			require.NoError(t, err, "%s.spv is not committed/embedded: run shaders/build.sh", name)
			require.True(t, bytes.Equal(got, want),
				"shaders/%s.spv differs from glslc output for %s (%d vs %d bytes): run shaders/build.sh", name, src, len(got), len(want))
		})
	}
}

// TestSPIRVValidates runs spirv-val on every embedded kernel.
func TestSPIRVValidates(t *testing.T) {
	val := tool(t, "spirv-val")
	names := Names()
	require.NotEmpty(t, names)
	for _, name := range names {
		cmd := exec.Command(val, "--target-env", "vulkan1.1", name+".spv")
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "spirv-val %s.spv: %s", name, msg)
	}
}

// TestEverySourceIsEmbedded checks that every .comp has an embedded .spv and
// no .spv is left without its source.
func TestEverySourceIsEmbedded(t *testing.T) {
	var want []string
	for _, src := range sources(t) {
		want = append(want, strings.TrimSuffix(src, ".comp"))
	}
	require.Equal(t, want, Names())
	_, err := SPIRV("no_such_kernel")
	require.ErrorContains(t, err, "no_such_kernel")
	b, err := SPIRV("gelu")
	require.NoError(t, err)
	require.Equal(t, []byte{0x03, 0x02, 0x23, 0x07}, b[:4], "SPIR-V magic (little endian)")
}
