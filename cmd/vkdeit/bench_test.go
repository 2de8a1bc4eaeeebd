package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBenchNothingMeasured: a bench whose every batch size is skipped
// (here: the input would need petabytes of host memory) fails with exit
// status 1 and the reason, instead of printing an empty table and exiting 0.
func TestBenchNothingMeasured(t *testing.T) {
	code, out, errs := runCLI(t, nil, "bench", "--model", tinyDir, "--device", "ref", "--batch", "1000000000000",
		"--warmup", "0", "--iters", "1", "-q")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Empty(t, out)
	require.Contains(t, errs, "vkdeit: bench: nothing was measured: ref batch 1000000000000 skipped: its input needs")
}
