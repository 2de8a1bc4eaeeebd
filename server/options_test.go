package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/server/inference"
)

func TestOptionsDefaults(t *testing.T) {
	m := tinyModel(t)
	e := refEngine(t, m, 8)
	o, err := Options{}.withDefaults(e)
	require.NoError(t, err)
	require.Equal(t, "deit", o.Name)
	require.Equal(t, "1", o.Version)
	require.Equal(t, ":8080", o.HTTPAddr)
	require.Equal(t, ":8081", o.GRPCAddr)
	require.Equal(t, 8, o.MaxBatch)
	require.Equal(t, time.Duration(0), o.MaxDelay)
	require.Equal(t, 128, o.MaxQueue)
	require.Equal(t, 30*time.Second, o.Timeout)
	require.Equal(t, int64(32<<20), o.MaxRequestBytes, "the tiny model's JSON batch is under the floor")
	require.Equal(t, 25*time.Second, o.DrainTimeout)
	require.NotNil(t, o.Logger)

	small, err := deit.Preset("small-distilled")
	require.NoError(t, err)
	o, err = Options{MaxBatch: 32}.withDefaults(fakeEngine{cfg: small, maxBatch: 32})
	require.NoError(t, err)
	require.Equal(t, int64(32*3*224*224*16), o.MaxRequestBytes, "a JSON request of max-batch images fits")
	require.Equal(t, 512, o.MaxQueue)

	for _, tt := range []struct {
		opts Options
		msg  string
	}{
		{Options{Name: "a/b"}, `contains "/"`},
		{Options{Version: "1/2"}, `contains "/"`},
		{Options{HTTPAddr: Off, GRPCAddr: Off}, "both HTTP and gRPC are off"},
		{Options{MaxBatch: -1}, "at least 1"},
		{Options{MaxQueue: 4}, "less than max batch 8"},
		{Options{Workers: -1}, "workers -1, want at least 1"},
		{Options{MaxRequestBytes: -5}, "max request size"},
		{Options{Timeout: -time.Second}, "negative"},
	} {
		_, err := New(m, e, tt.opts)
		require.ErrorContains(t, err, tt.msg, "%+v", tt.opts)
	}
	_, err = New(nil, e, Options{})
	require.Error(t, err)
	_, err = New(m, fakeEngine{cfg: small, maxBatch: 1}, Options{})
	require.ErrorContains(t, err, "another model")
}

// TestOptionsMaxBatch: the server takes at most the batch its engine was
// built for; asking for more lowers it to the engine's, with a warning in
// the server's log rather than an error.
func TestOptionsMaxBatch(t *testing.T) {
	m := tinyModel(t)
	e := refEngine(t, m, 8)
	for _, tt := range []struct {
		asked, want int
		warned      bool
	}{
		{0, 8, false},
		{1, 1, false},
		{8, 8, false},
		{9, 8, true},
		{64, 8, true},
	} {
		var log bytes.Buffer
		s, err := New(m, e, Options{MaxBatch: tt.asked, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		require.NoError(t, err, "max batch %d", tt.asked)
		require.Equal(t, tt.want, s.opts.MaxBatch, "max batch %d", tt.asked)
		if tt.warned {
			require.Contains(t, log.String(), fmt.Sprintf(`level=WARN msg="max batch lowered to what the engine was built for" asked=%d max_batch=8`, tt.asked))
		} else {
			require.Empty(t, log.String())
		}
	}
}

// fakeEngine is an engine that only describes itself.
type fakeEngine struct {
	engine.Engine
	cfg      deit.Config
	maxBatch int
}

func (f fakeEngine) Config() deit.Config { return f.cfg }
func (f fakeEngine) MaxBatch() int       { return f.maxBatch }

func TestServeLifecycle(t *testing.T) {
	m := tinyModel(t)
	s, err := New(m, refEngine(t, m, 2), Options{HTTPAddr: "127.0.0.1:0", GRPCAddr: Off})
	require.NoError(t, err)
	_, _, ok := s.Addrs()
	require.False(t, ok)
	require.False(t, s.Ready())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, s.Ready, 5*time.Second, time.Millisecond)
	ha, ga, ok := s.Addrs()
	require.True(t, ok)
	require.Nil(t, ga)
	status, _, body := httpDo(t, "GET", "http://"+ha.String()+"/v2/models/deit/ready", nil, nil)
	require.Equal(t, 200, status, "%s", body)
	cancel()
	require.NoError(t, <-done)
	require.False(t, s.Ready())
	require.ErrorContains(t, s.Serve(t.Context(), nil, nil), "no listener")
	require.ErrorContains(t, s.Run(t.Context()), "twice")

	s2, err := New(m, refEngine(t, m, 2), Options{HTTPAddr: "127.0.0.1:bad"})
	require.NoError(t, err)
	require.ErrorContains(t, s2.Run(t.Context()), "server: http")
}

func TestPanicRecovery(t *testing.T) {
	m := tinyModel(t)
	s, err := New(m, refEngine(t, m, 2), Options{})
	require.NoError(t, err)

	t.Run("http", func(t *testing.T) {
		rr := httptest.NewRecorder()
		func() {
			w := &statusWriter{ResponseWriter: rr}
			r := httptest.NewRequest("GET", "/x", nil)
			defer s.recoverHTTP(w, r)
			panic("boom")
		}()
		require.Equal(t, 500, rr.Code)
		require.Contains(t, errorBody(t, rr.Body.Bytes()), "internal error: boom")
	})
	t.Run("http abort passes through", func(t *testing.T) {
		require.PanicsWithValue(t, http.ErrAbortHandler, func() {
			w := &statusWriter{ResponseWriter: httptest.NewRecorder()}
			defer s.recoverHTTP(w, httptest.NewRequest("GET", "/x", nil))
			panic(http.ErrAbortHandler)
		})
	})
	t.Run("grpc", func(t *testing.T) {
		info := &grpc.UnaryServerInfo{FullMethod: inference.GRPCInferenceService_ModelInfer_FullMethodName}
		_, err := s.grpcRecover(t.Context(), nil, info, func(context.Context, any) (any, error) { panic("boom") })
		requireCode(t, err, codes.Internal, "internal error: boom")
		_, err = s.grpcRecover(t.Context(), nil, info, func(context.Context, any) (any, error) { return nil, errQueueFull })
		requireCode(t, err, codes.ResourceExhausted, "queue is full")
		_, err = s.grpcRecover(t.Context(), nil, info, func(context.Context, any) (any, error) { return nil, errors.New("x") })
		requireCode(t, err, codes.Internal, "x")
	})
}

func TestChunkedBodyOverLimit(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 2), Options{Name: "tiny", MaxRequestBytes: 64 << 10})
	// No Content-Length: the limit is enforced while reading.
	req, err := http.NewRequest("POST", ts.url+"/v2/models/tiny/infer", strings.NewReader(strings.Repeat(" ", 65<<10)))
	require.NoError(t, err)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 413, resp.StatusCode)
}
