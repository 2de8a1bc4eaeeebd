package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/internal/fixture/fixturemodel"
	"github.com/vkdeit/vkdeit/server/inference"
)

// tinyModel is the committed tiny distilled fixture (32×32 images, 10
// labels, hidden 64).
func tinyModel(t testing.TB) *deit.Model { return fixturemodel.Tiny(t) }

// refEngine is the deterministic float64 reference engine for m.
func refEngine(t testing.TB, m *deit.Model, maxBatch int) engine.Engine {
	t.Helper()
	e, err := engine.New(m, engine.Options{Device: "ref", MaxBatch: maxBatch, Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// testEngine wraps an engine to watch and steer the batcher: it records
// every call's batch size, can hold calls until released, and can fail
// or panic.
type testEngine struct {
	engine.Engine
	mu      sync.Mutex
	sizes   []int
	gate    chan struct{} // when set, each call waits for a token (or its context)
	entered chan int      // when set, gets each call's batch size as it starts
	fail    error
	panics  bool
	// warm lets a server started by startServer warm the engine up (it
	// skips warm-up on a testEngine otherwise, so that gates and call
	// counts see requests only).
	warm bool
}

func (e *testEngine) begin(ctx context.Context, B int) error {
	e.mu.Lock()
	e.sizes = append(e.sizes, B)
	gate, entered, fail, panics := e.gate, e.entered, e.fail, e.panics
	e.mu.Unlock()
	if entered != nil {
		entered <- B
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if panics {
		panic("test engine panic")
	}
	return fail
}

func (e *testEngine) Run(ctx context.Context, px []float32, B int, taps deit.Tap) (*engine.Output, error) {
	if err := e.begin(ctx, B); err != nil {
		return nil, err
	}
	return e.Engine.Run(ctx, px, B, taps)
}

// skipWarm reports whether a server on e should skip warm-up (see warm).
func (e *testEngine) skipWarm() bool { return !e.warm }

func (e *testEngine) calls() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.sizes...)
}

// testServer is a Server serving on loopback ports, with clients.
type testServer struct {
	*Server
	url    string
	grpc   inference.GRPCInferenceServiceClient
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   chan error
}

// startServer serves m on e over 127.0.0.1, stopping it when the test
// ends.
func startServer(t testing.TB, m *deit.Model, e engine.Engine, opts Options) *testServer {
	t.Helper()
	return startServerWith(t, m, e, opts, nil)
}

// startServerWith is startServer with a hook that adjusts the server
// before it serves (nil: none).
func startServerWith(t testing.TB, m *deit.Model, e engine.Engine, opts Options, hook func(*Server)) *testServer {
	t.Helper()
	if te, ok := e.(interface{ skipWarm() bool }); ok && te.skipWarm() {
		opts.SkipWarmup = true
	}
	s, err := New(m, e, opts)
	require.NoError(t, err)
	if hook != nil {
		hook(s)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, url: "http://" + hl.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx, hl, gl) }()
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	require.NoError(t, err)
	ts.conn = conn
	ts.grpc = inference.NewGRPCInferenceServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		ts.stop(t)
	})
	require.Eventually(t, s.Ready, 5*time.Second, time.Millisecond)
	return ts
}

// grpcConn is the client connection to the gRPC port.
func (ts *testServer) grpcConn() *grpc.ClientConn { return ts.conn }

// stop shuts the server down (once) and returns Serve's error.
func (ts *testServer) stop(t testing.TB) error {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok {
			close(ts.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return 30s after its context was canceled")
		return nil
	}
}

// forwardEach is the engine's logits (and embeddings) for each image
// alone: what every server answer must equal bit for bit.
func forwardEach(t testing.TB, e engine.Engine, px []float32, n int) (logits, emb []float32) {
	t.Helper()
	per := len(px) / n
	for i := range n {
		out, err := e.Run(context.Background(), px[i*per:(i+1)*per], 1, deit.TapEmbeddings)
		require.NoError(t, err)
		logits = append(logits, out.Logits...)
		emb = append(emb, out.Embeddings...)
	}
	return logits, emb
}

// httpDo sends a request and returns the status, headers and body.
func httpDo(t testing.TB, method, url string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// postJSON posts v as JSON.
func postJSON(t testing.TB, url string, v any) (int, http.Header, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return httpDo(t, http.MethodPost, url, http.Header{"Content-Type": {"application/json"}}, b)
}

// errorBody decodes {"error": "..."} and returns the message.
func errorBody(t testing.TB, body []byte) string {
	t.Helper()
	var e struct {
		Error *string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "body %s", body)
	require.NotNil(t, e.Error, "body %s has no error field", body)
	return *e.Error
}

// readFile reads a repository file.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// restResponse is $inference_response, as a client decodes it.
type restResponse struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           string `json:"id"`
	Outputs      []struct {
		Name       string           `json:"name"`
		Datatype   string           `json:"datatype"`
		Shape      []int64          `json:"shape"`
		Parameters map[string]int64 `json:"parameters"`
		Data       []float32        `json:"data"`
	} `json:"outputs"`
}
