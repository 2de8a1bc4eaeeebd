package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/server/inference"
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
	waitReady(t, base, exitedWith(t, done), stderr.String)
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

// TestPythonClientExample runs docs/client_example.py (standard library
// only) against `vkdeit serve`: both its forms rank the image as
// classify does. It needs python3 (CI has it; elsewhere it skips).
func TestPythonClientExample(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing on CI")
		}
		t.Skip("no python3")
	}
	base, stderr, stop := startServe(t, "--model", tinyDir, "--name", "tiny")
	defer func() { require.Equal(t, 0, stop(), stderr.String()) }()
	_, good := mixedDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "../../docs/client_example.py", "--url", base, "--model", "tiny", "--top-k", "3", good[0]).CombinedOutput()
	require.NoError(t, err, "%s", out)

	m := loadTiny(t)
	logits := expectedLogits(t, m, good[0])
	want, err := classify.TopK(logits, 3, m.Config.Labels)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2, "%s", out)
	for i, form := range []string{"json", "binary"} {
		f := strings.Split(lines[i], "\t")
		require.Equal(t, []string{good[0], form}, f[:2], lines[i])
		require.Len(t, f, 5, lines[i])
		for j, p := range want {
			label, score, ok := strings.Cut(f[2+j], "=")
			require.True(t, ok, f[2+j])
			require.Equal(t, p.Label, label, "%s rank %d", form, j)
			v, err := strconv.ParseFloat(score, 64)
			require.NoError(t, err)
			if form == "json" {
				require.InDelta(t, float64(p.Logit), v, 1e-4, "the logit")
			} else {
				require.InDelta(t, p.Score, v, 1e-5, "the probability")
			}
		}
	}
}

// TestReadmeGRPCurl runs the README's grpcurl ModelInfer lines as written
// (the request built by the shell on stdin, -d @) for an image over the
// ~96 KB that fails as an argument: the JSON they make is decoded as
// grpcurl decodes it (protobuf's JSON mapping) and sent over gRPC, and
// through grpcurl itself when it is installed.
func TestReadmeGRPCurl(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	text := string(readme)
	start := strings.Index(text, "{ printf '{\"model_name\"")
	require.GreaterOrEqual(t, start, 0, "README's grpcurl ModelInfer lines")
	end := strings.Index(text[start:], "inference.GRPCInferenceService/ModelInfer")
	require.Greater(t, end, 0)
	command := text[start : start+end+len("inference.GRPCInferenceService/ModelInfer")]
	producer, consumer, ok := strings.Cut(command, "} | ")
	require.True(t, ok, command)
	producer += "}"
	require.Equal(t, "grpcurl -plaintext -d @ localhost:8081 inference.GRPCInferenceService/ModelInfer", consumer)

	// A 300 KB image: noise compresses badly.
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.UintN(256))
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	require.Greater(t, buf.Len(), 200<<10)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cat.jpg"), buf.Bytes(), 0o644))

	grpcAddr := freeAddr(t)
	_, stderr, stop := startServe(t, "--model", tinyDir, "--name", "deit-small-distilled-patch16-224", "--grpc", grpcAddr)
	defer func() { require.Equal(t, 0, stop(), stderr.String()) }()

	cmd := exec.Command(bash, "-c", producer)
	cmd.Dir = dir
	js, err := cmd.Output()
	require.NoError(t, err)
	var req inference.ModelInferRequest
	require.NoError(t, protojson.Unmarshal(js, &req))
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	resp, err := inference.NewGRPCInferenceServiceClient(conn).ModelInfer(t.Context(), &req)
	require.NoError(t, err)
	m := loadTiny(t)
	logits := expectedLogits(t, m, filepath.Join(dir, "cat.jpg"))
	want, err := classify.TopK(logits, 3, m.Config.Labels)
	require.NoError(t, err)
	got := resp.GetOutputs()[0].GetContents().GetBytesContents()
	require.Len(t, got, 3)
	for i, p := range want {
		require.True(t, strings.HasSuffix(string(got[i]), fmt.Sprintf(":%d:%s", p.Index, p.Label)), "%s", got[i])
	}

	if grpcurl, err := exec.LookPath("grpcurl"); err == nil {
		full := exec.Command(bash, "-c", producer+" | "+strings.Replace(consumer, "grpcurl", grpcurl, 1))
		full.Dir = dir
		full.Args[2] = strings.Replace(full.Args[2], "localhost:8081", grpcAddr, 1)
		out, err := full.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), want[0].Label)
	}
}
