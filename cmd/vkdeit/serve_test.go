package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/classify"

	"github.com/vkdeit/vkdeit/server"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines to write
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestServe runs `vkdeit serve` in-process on loopback: it answers
// /classify like classify does, and SIGTERM drains it to exit status 0.
func TestServe(t *testing.T) {
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var stderr syncBuffer
	e := newEnv(nil, &bytes.Buffer{}, &stderr)
	done := make(chan int, 1)
	go func() {
		done <- e.run(ctx, []string{"serve", "--model", tinyDir, "--device", "ref", "--http", httpAddr,
			"--grpc", grpcAddr, "--log-format", "text"})
	}()
	base := "http://" + httpAddr
	waitReady(t, base, exitedWith(t, done), stderr.String)
	_, good := mixedDir(t)
	img, err := os.ReadFile(good[0])
	require.NoError(t, err)
	resp, err := http.Post(base+"/classify?top_k=2", "application/octet-stream", bytes.NewReader(img))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got []struct {
		Label string  `json:"label"`
		Score float64 `json:"score"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	m := loadTiny(t)
	want, err := classify.TopK(expectedLogits(t, m, good[0]), 2, m.Config.Labels)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, want[0].Label, got[0].Label)
	require.InDelta(t, want[0].Score, got[0].Score, 1e-6)

	cancel(interrupted{syscall.SIGTERM})
	select {
	case code := <-done:
		require.Equal(t, 0, code, "a drained server exits 0: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	require.Contains(t, stderr.String(), "shutting down")
	require.False(t, strings.Contains(stderr.String(), "level=ERROR"), stderr.String())
}

// TestServedName: the model name serve derives from --model.
func TestServedName(t *testing.T) {
	for in, want := range map[string]string{
		"facebook/deit-small-distilled-patch16-224":  "deit-small-distilled-patch16-224",
		"facebook/deit-base-patch16-224@main":        "deit-base-patch16-224",
		"":                                           "deit-small-distilled-patch16-224", // hub.DefaultModel
		"/mnt/models":                                "models",
		"/mnt/models/":                               "models",
		"./testdata/tiny-distilled":                  "tiny-distilled",
		"models/deit-tiny/model.safetensors":         "deit-tiny",
		"/ckpt/deit_small_distilled_patch16_224.pth": "ckpt",
		"/":            "deit",
		".":            "deit",
		"C:thing":      "C:thing",
		"org/my-model": "my-model",
		"../up/one":    "one",
		"/data/hub/models--facebook--deit/snapshots/abc": "abc",
	} {
		require.Equal(t, want, servedName(in), "servedName(%q)", in)
	}
}

// TestServeFlags: every server flag given on serve's command line reaches
// server.Options, and changes only its own field; so do the decode flags.
// Each flag is registered once: --workers is the server's, not shadowed by
// a decode flag of the same name (0 is the server's GOMAXPROCS default).
func TestServeFlags(t *testing.T) {
	e := newEnv(nil, &bytes.Buffer{}, &bytes.Buffer{})
	base, err := parseServe(e, nil)
	require.NoError(t, err)
	require.Equal(t, "deit-small-distilled-patch16-224", base.opts.Name, "named after the default model")
	require.Equal(t, 8, base.opts.MaxBatch)
	require.Zero(t, base.opts.Workers, "the server's default: GOMAXPROCS")
	require.EqualValues(t, 1024<<20, base.opts.Decode.Budget.Size())
	// plain is o without its pointers (logger, decode budget), for comparing.
	plain := func(o server.Options) server.Options {
		o.Logger, o.Decode.Budget = nil, nil
		return o
	}
	tested := map[string]bool{}
	for _, tt := range []struct {
		flag string
		args []string
		set  func(o *server.Options)
	}{
		{"name", []string{"--name", "cats"}, func(o *server.Options) { o.Name = "cats" }},
		{"http", []string{"--http=127.0.0.1:9"}, func(o *server.Options) { o.HTTPAddr = "127.0.0.1:9" }},
		{"grpc", []string{"--grpc", "off"}, func(o *server.Options) { o.GRPCAddr = server.Off }},
		{"max-batch", []string{"--max-batch", "32"}, func(o *server.Options) { o.MaxBatch = 32 }},
		{"max-delay", []string{"--max-delay", "2ms"}, func(o *server.Options) { o.MaxDelay = 2 * time.Millisecond }},
		{"max-queue", []string{"--max-queue=512"}, func(o *server.Options) { o.MaxQueue = 512 }},
		{"timeout", []string{"--timeout", "5s"}, func(o *server.Options) { o.Timeout = 5 * time.Second }},
		{"workers", []string{"--workers", "3"}, func(o *server.Options) { o.Workers = 3 }},
		{"workers", []string{"--workers", "0"}, func(o *server.Options) {}},
		{"max-request-bytes", []string{"--max-request-bytes", "1048576"}, func(o *server.Options) { o.MaxRequestBytes = 1 << 20 }},
		{"drain-timeout", []string{"--drain-timeout", "10s"}, func(o *server.Options) { o.DrainTimeout = 10 * time.Second }},
		{"no-exif", []string{"--no-exif"}, func(o *server.Options) { o.Decode.NoEXIF = true }},
		{"max-pixels", []string{"--max-pixels", "1000"}, func(o *server.Options) { o.Decode.MaxPixels = 1000 }},
		{"model", []string{"--model", "org/some-deit@v2"}, func(o *server.Options) { o.Name = "some-deit" }},
	} {
		c, err := parseServe(e, tt.args)
		require.NoError(t, err, "%v", tt.args)
		want := plain(base.opts)
		tt.set(&want)
		require.Equal(t, want, plain(c.opts), "%v", tt.args)
		tested[tt.flag] = true
	}
	var fs pflag.FlagSet
	(&server.Options{}).AddFlags(&fs)
	fs.VisitAll(func(f *pflag.Flag) { require.True(t, tested[f.Name], "server flag --%s is not tested", f.Name) })

	c, err := parseServe(e, []string{"--decode-memory", "64", "--device", "cpu", "--precision", "fp16"})
	require.NoError(t, err)
	require.EqualValues(t, 64<<20, c.opts.Decode.Budget.Size())
	require.Equal(t, "cpu", c.device)
	require.Equal(t, "fp16", c.precision.String())
	c, err = parseServe(e, []string{"--threads", "3"})
	require.NoError(t, err)
	require.Equal(t, 3, c.threads)

	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--workers", "-1"}, "serve: --workers must be ≥ 0 (0: GOMAXPROCS), got -1"},
		{[]string{"--max-batch", "0"}, "serve: --max-batch must be ≥ 1, got 0"},
		{[]string{"--max-pixels", "0"}, "serve: --max-pixels must be ≥ 1, got 0"},
		{[]string{"--threads", "-2"}, "serve: --threads must be ≥ 0 (0: GOMAXPROCS), got -2"},
	} {
		_, err := parseServe(e, tt.args)
		require.EqualError(t, err, tt.msg)
	}

	code, out, errs := runCLI(t, nil, "serve", "--help")
	require.Equal(t, 0, code, errs)
	require.Equal(t, 1, strings.Count(out, "    --workers"), "one --workers flag:\n%s", out)
	require.Contains(t, out, "images decoded and preprocessed in parallel (0: GOMAXPROCS")
}

// waitReady polls the server at base until it is ready (at most 30 s),
// failing the test with its logs when exited reports that it stopped.
func waitReady(t testing.TB, base string, exited func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if exited() {
			t.Fatalf("the server exited before it was ready: %s", logs())
		}
		require.True(t, time.Now().Before(deadline), "server not ready after 30 s: %s", logs())
		time.Sleep(20 * time.Millisecond)
	}
}

// exitedWith is waitReady's exited for an in-process `vkdeit serve` whose
// exit status arrives on done (and is put back for the test to read).
func exitedWith(t testing.TB, done chan int) func() bool {
	return func() bool {
		select {
		case code := <-done:
			done <- code
			t.Logf("serve exited with %d", code)
			return true
		default:
			return false
		}
	}
}
