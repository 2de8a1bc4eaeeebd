package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTune runs vkdeit tune twice on the tiny model: the first run measures
// every shape and saves them, the second takes all of them from the cache
// and says so on stderr and in --json; bad flags are usage errors.
func TestTune(t *testing.T) {
	needGPU(t)
	dir := t.TempDir()
	args := []string{"tune", "--model", tinyDir, "--device", "gpu", "--batch", "1,2", "--precision", "fp32",
		"--max-candidates", "2", "--runs", "1", "--cache-dir", filepath.Join(dir, "cache")}
	read := func(path string) tuneReport {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var r tuneReport
		require.NoError(t, json.Unmarshal(b, &r))
		return r
	}
	first := filepath.Join(dir, "first.json")
	code, out, errs := runCLI(t, nil, append(args, "--json", first)...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "fp32  shape")
	require.Contains(t, out, "layer0.fc1 at batch 2")
	r1 := read(first)
	require.Positive(t, r1.Tuned)
	require.Zero(t, r1.Cached)
	require.FileExists(t, r1.Cache)
	require.Contains(t, errs, "saved to "+r1.Cache)

	second := filepath.Join(dir, "second.json")
	code, out, errs = runCLI(t, nil, append(args, "--json", second)...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	r2 := read(second)
	require.Zero(t, r2.Tuned, "second run: nothing measured")
	require.Equal(t, r1.Tuned, r2.Cached)
	require.Contains(t, errs, "nothing tuned")
	for _, p := range r2.Precision {
		for _, r := range p.Results {
			require.True(t, r.Cached, r.Shape.Key())
			require.Empty(t, r.Candidates)
		}
	}

	// A batch the device cannot hold (one binding over maxStorageBufferRange:
	// the engine is built for fewer) is left out with a note, the rest tuned.
	big := append([]string{}, args...)
	big[6] = "1,1000000"
	code, _, errs = runCLI(t, nil, append(big, "--json", filepath.Join(dir, "big.json"))...)
	require.Equal(t, 0, code, errs)
	require.Regexp(t, `fp32: batches above \d+ do not fit on .*: not tuned`, errs)
	require.Contains(t, read(filepath.Join(dir, "big.json")).Notes[0], "do not fit")

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--device", "cpu"}, "tuning needs a Vulkan device"},
		{[]string{"--runs", "0"}, "--runs must be ≥ 1"},
		{[]string{"--batch", "0"}, "tune: --batch"},
		{[]string{"--precision", "fp8"}, "tune: --precision"},
	} {
		code, _, errs := runCLI(t, nil, append([]string{"tune"}, tc.args...)...)
		require.Equal(t, 2, code, "tune %v: %s", tc.args, errs)
		require.Contains(t, errs, tc.msg)
	}
}
