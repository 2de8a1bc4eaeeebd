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

// TestBenchServe runs the server's load test on the tiny model: one level
// per protocol, beside the engine alone; bad flags are usage errors.
func TestBenchServe(t *testing.T) {
	code, out, errs := runCLI(t, nil, "bench", "serve", "--model", tinyDir, "--device", "ref", "--clients", "2",
		"--duration", "50ms", "--max-batch", "4")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	require.Contains(t, out, "model: "+tinyDir+"\n")
	require.Contains(t, out, "engine alone:")
	require.Contains(t, out, "at batch 4;")
	for _, p := range []string{"rest", "rest-binary", "grpc"} {
		require.Regexp(t, `(?m)^\s+`+p+`\s+2\s+[1-9][0-9]*\s+0\s`, out, "a %s level with 2 clients, requests and no errors", p)
	}

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--protocols", "rest,soap"}, `bench serve: --protocols: unknown protocol "soap"`},
		{[]string{"--clients", "0"}, `bench serve: --clients: "0" is not a batch size ≥ 1`},
		{[]string{"--max-batch", "0"}, "--max-batch must be ≥ 1"},
	} {
		code, _, errs = runCLI(t, nil, append([]string{"bench", "serve"}, tc.args...)...)
		require.Equal(t, 2, code, "bench serve %v: %s", tc.args, errs)
		require.Contains(t, errs, tc.msg)
	}
}
