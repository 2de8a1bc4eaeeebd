package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startServe runs `vkdeit serve args...` in-process and waits until it is
// ready; stop sends it SIGTERM and returns its exit status.
func startServe(t *testing.T, args ...string) (base string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	httpAddr := freeAddr(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	stderr = &syncBuffer{}
	e := newEnv(nil, &bytes.Buffer{}, stderr)
	done := make(chan int, 1)
	go func() {
		done <- e.run(ctx, append([]string{"serve", "--device", "ref", "--http", httpAddr, "--grpc", "off"}, args...))
	}()
	base = "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "server not ready: %s", stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
	return base, stderr, func() int {
		cancel(interrupted{syscall.SIGTERM})
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop after SIGTERM")
			return -1
		}
	}
}

// TestServePortsFirst: serve takes its ports before it loads the model, so
// a port in use is the error, whatever the model.
func TestServePortsFirst(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	var stderr bytes.Buffer
	e := newEnv(nil, &bytes.Buffer{}, &stderr)
	code := e.run(t.Context(), []string{"serve", "--model", filepath.Join(t.TempDir(), "no-such-model"), "--device", "ref",
		"--http", busy.Addr().String(), "--grpc", "off"})
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr.String(), "--http "+busy.Addr().String())
	require.Contains(t, stderr.String(), "address already in use")
	require.NotContains(t, stderr.String(), "no-such-model", "the model is not looked at")
}

// TestServeModelRepository: --model-repository serves each model
// directory under its name, with Triton's repository index.
func TestServeModelRepository(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs(tinyDir)
	require.NoError(t, err)
	for _, name := range []string{"alpha", "beta", ".hidden"} {
		require.NoError(t, os.Symlink(abs, filepath.Join(dir, name)))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("not a model"), 0o644))

	base, stderr, stop := startServe(t, "--model-repository", dir, "--max-batch", "2", "--log-format", "json")
	resp, err := http.Post(base+"/v2/repository/index", "application/json", nil)
	require.NoError(t, err)
	var idx []map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&idx))
	resp.Body.Close()
	require.Equal(t, []map[string]string{{"name": "alpha", "version": "1", "state": "READY"}, {"name": "beta", "version": "1", "state": "READY"}}, idx)

	_, good := mixedDir(t)
	img, err := os.ReadFile(good[0])
	require.NoError(t, err)
	for _, q := range []string{"?model=alpha", "?model=beta"} {
		resp, err := http.Post(base+"/classify"+q, "image/jpeg", bytes.NewReader(img))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, q)
	}
	resp, err = http.Post(base+"/v2/models/alpha/infer", "application/json", strings.NewReader(`{"inputs":[]}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode)
	require.Equal(t, 0, stop(), stderr.String())

	// The logs: JSON lines, durations in seconds, the client's error at
	// info with its text.
	var refused, stopped map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		for k := range line {
			require.NotContains(t, []string{"took", "drain_timeout", "max_delay"}, k, "durations are logged in seconds (*_s): %s", sc.Text())
		}
		switch line["msg"] {
		case "request refused":
			refused = line
		case "stopped":
			stopped = line
		}
	}
	require.NotNil(t, refused, stderr.String())
	require.Equal(t, "INFO", refused["level"])
	require.Equal(t, "alpha", refused["model"])
	require.Contains(t, refused["error"], "0 inputs; a request has exactly one")
	require.EqualValues(t, 400, refused["status"])
	require.NotNil(t, stopped, stderr.String())
	took, ok := stopped["took_s"].(float64)
	require.True(t, ok, "took_s is a number of seconds: %v", stopped)
	require.Less(t, took, 30.0)

	var stderr2 bytes.Buffer
	code := newEnv(nil, &bytes.Buffer{}, &stderr2).run(t.Context(), []string{"serve", "--model-repository", dir, "--model", tinyDir})
	require.Equal(t, 2, code)
	require.Contains(t, stderr2.String(), "leave out --model")
	empty := t.TempDir()
	stderr2.Reset()
	code = newEnv(nil, &bytes.Buffer{}, &stderr2).run(t.Context(), []string{"serve", "--model-repository", empty, "--http", "127.0.0.1:0", "--grpc", "off"})
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr2.String(), "holds no model directory")
}
