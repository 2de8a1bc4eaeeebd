package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDemoOffline runs scripts/demo.sh (`make demo`) with the Hub
// unreachable and an empty cache: it still classifies, with the bundled
// trained fixture on a bundled image, says so and how to get the real
// model, and exits 0. The script runs this test binary as vkdeit.
func TestDemoOffline(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append(os.Environ(), helperServeEnv+"=1", "VKDEIT="+os.Args[0]+" -test.run=^TestHelperServe$ --",
		"HF_ENDPOINT=http://127.0.0.1:9", "HF_HOME="+t.TempDir(), "HF_HUB_OFFLINE=", "HF_HUB_CACHE=", "HUGGINGFACE_HUB_CACHE=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Contains(t, stderr.String(), "cannot reach the Hub at http://127.0.0.1:9; behind a proxy set HTTPS_PROXY, for a mirror HF_ENDPOINT")
	require.Contains(t, stderr.String(), "OFFLINE FIXTURE")
	require.Contains(t, stdout.String(), "testdata/trained/test/triangle/triangle_000.png")
	require.Regexp(t, `(?m)^  1 +9\d\.\d+%  4  triangle$`, stdout.String())
}
