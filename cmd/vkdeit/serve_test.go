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

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
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
	deadline := time.Now().Add(20 * time.Second)
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
		time.Sleep(50 * time.Millisecond)
	}
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
	want, err := deit.TopK(expectedLogits(t, m, good[0]), 2, m.Config.Labels)
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
