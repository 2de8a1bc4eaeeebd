package shaders

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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

// laneTool returns the coopmat lane's wrapper for a tool (glslc, spirv-val;
// see scripts/vulkan-lane.sh), skipping outside CI and failing under CI when
// the lane is not set up.
func laneTool(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("VKDEIT_LANE_DIR")
	if dir == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		dir = filepath.Join(cache, "vkdeit", "lane")
	}
	p := filepath.Join(dir, "bin", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("coopmat shaders need the lane's %s, not found with CI set (run scripts/vulkan-lane.sh): %v", name, err)
		}
		t.Skipf("coopmat lane not set up (scripts/vulkan-lane.sh): %v", err)
	}
	return p
}

// kernel is one compiled shader: its source and the glslc flags beyond the
// common ones.
type kernel struct {
	name, src string
	flags     []string
	coopmat   bool // needs the lane's compiler and validator
}

// kernels lists every .spv build.sh makes: each *.comp as is, then each line
// of the variants file.
func kernels(t *testing.T) []kernel {
	t.Helper()
	srcs, err := filepath.Glob("*.comp")
	require.NoError(t, err)
	require.NotEmpty(t, srcs, "no .comp sources")
	var ks []kernel
	for _, src := range srcs {
		ks = append(ks, kernel{name: strings.TrimSuffix(src, ".comp"), src: src})
	}
	f, err := os.Open("variants")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		require.GreaterOrEqual(t, len(fields), 2, "variants: %q needs an output name and a source", line)
		ks = append(ks, kernel{name: fields[0], src: fields[1], flags: fields[2:]})
	}
	require.NoError(t, sc.Err())
	for i := range ks {
		text, err := os.ReadFile(ks[i].src)
		require.NoError(t, err, "kernel %s", ks[i].name)
		ks[i].coopmat = bytes.Contains(text, []byte("GL_KHR_cooperative_matrix"))
	}
	return ks
}

// TestCommittedSPIRVMatchesSource recompiles every kernel exactly as build.sh
// does (coopmat ones with the lane's glslc) and requires the committed .spv
// to be byte-identical.
func TestCommittedSPIRVMatchesSource(t *testing.T) {
	dir := t.TempDir()
	for _, k := range kernels(t) {
		t.Run(k.name, func(t *testing.T) {
			glslc := ""
			if k.coopmat {
				glslc = laneTool(t, "glslc")
			} else {
				glslc = tool(t, "glslc")
			}
			out := filepath.Join(dir, k.name+".spv")
			args := append([]string{"--target-env=vulkan1.1", "-O", "-I", "."}, k.flags...)
			cmd := exec.Command(glslc, append(args, "-o", out, k.src)...)
			msg, err := cmd.CombinedOutput()
			require.NoError(t, err, "glslc %s: %s", k.src, msg)
			want, err := os.ReadFile(out)
			require.NoError(t, err)
			got, err := SPIRV(k.name)
			require.NoError(t, err, "%s.spv is not committed/embedded: run make shaders", k.name)
			require.True(t, bytes.Equal(got, want),
				"shaders/%s.spv differs from glslc output for %s %v (%d vs %d bytes): run make shaders", k.name, k.src, k.flags, len(got), len(want))
		})
	}
}

// TestSPIRVValidates runs spirv-val on every embedded kernel (the lane's
// newer validator for the coopmat ones).
func TestSPIRVValidates(t *testing.T) {
	for _, k := range kernels(t) {
		t.Run(k.name, func(t *testing.T) {
			val := ""
			if k.coopmat {
				val = laneTool(t, "spirv-val")
			} else {
				val = tool(t, "spirv-val")
			}
			cmd := exec.Command(val, "--target-env", "vulkan1.1", k.name+".spv")
			msg, err := cmd.CombinedOutput()
			require.NoError(t, err, "spirv-val %s.spv: %s", k.name, msg)
		})
	}
}

// TestEverySourceIsEmbedded checks that every kernel build.sh makes has an
// embedded .spv and no .spv is left without its source.
func TestEverySourceIsEmbedded(t *testing.T) {
	var want []string
	for _, k := range kernels(t) {
		want = append(want, k.name)
	}
	sort.Strings(want)
	require.Equal(t, want, Names())
	_, err := SPIRV("no_such_kernel")
	require.ErrorContains(t, err, "no_such_kernel")
	b, err := SPIRV("gelu")
	require.NoError(t, err)
	require.Equal(t, []byte{0x03, 0x02, 0x23, 0x07}, b[:4], "SPIR-V magic (little endian)")
}
