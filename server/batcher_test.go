package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/server/inference"
)

// answer is one client request's outcome.
type answer struct {
	status int // HTTP status, or for gRPC 200 / the HTTP status of its code's kind
	code   codes.Code
	logits []float32
	err    error // transport failure: no answer at all
}

// client is how a test sends n images: REST JSON, REST binary or gRPC raw.
type client func(ctx context.Context, ts *testServer, px []float32, n int) answer

func restJSONClient(ctx context.Context, ts *testServer, px []float32, n int) answer {
	body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{
		"name": "pixel_values", "datatype": "FP32", "shape": []int{n, 3, 32, 32}, "data": px}}})
	return restPost(ctx, ts, http.Header{"Content-Type": {"application/json"}}, body)
}

func restBinaryClient(ctx context.Context, ts *testServer, px []float32, n int) answer {
	js, _ := json.Marshal(map[string]any{
		"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{n, 3, 32, 32},
			"parameters": map[string]any{"binary_data_size": 4 * len(px)}}},
		"outputs": []any{map[string]any{"name": "logits", "parameters": map[string]any{"binary_data": true}}},
	})
	h := http.Header{headerJSONLength: {strconv.Itoa(len(js))}, "Content-Type": {"application/octet-stream"}}
	return restPost(ctx, ts, h, append(js, f32bytes(px)...))
}

func restPost(ctx context.Context, ts *testServer, h http.Header, body []byte) answer {
	req, err := http.NewRequestWithContext(ctx, "POST", ts.url+"/v2/models/tiny/infer", bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: resp.StatusCode}
	if resp.StatusCode != 200 {
		return a
	}
	if n := resp.Header.Get(headerJSONLength); n != "" {
		k, _ := strconv.Atoi(n)
		a.logits, a.err = decodeFP32("logits", b[k:], (len(b)-k)/4, nil)
		return a
	}
	var r restResponse
	if a.err = json.Unmarshal(b, &r); a.err == nil {
		a.logits = r.Outputs[0].Data
	}
	return a
}

func grpcClient(ctx context.Context, ts *testServer, px []float32, n int) answer {
	resp, err := ts.grpc.ModelInfer(ctx, &inference.ModelInferRequest{ModelName: "tiny",
		Inputs:           []*inference.ModelInferRequest_InferInputTensor{{Name: "pixel_values", Datatype: "FP32", Shape: []int64{int64(n), 3, 32, 32}}},
		RawInputContents: [][]byte{f32bytes(px)}})
	if err != nil {
		st, ok := status.FromError(err)
		if !ok || st.Code() == codes.Unavailable && st.Message() != errShuttingDown.Error() {
			return answer{err: err, code: st.Code()} // a transport failure, not an answer
		}
		return answer{code: st.Code(), status: codeStatus(st.Code())}
	}
	l, err := decodeFP32("logits", resp.GetRawOutputContents()[0], len(resp.GetRawOutputContents()[0])/4, nil)
	return answer{status: 200, logits: l, err: err}
}

// codeStatus maps gRPC codes back to the HTTP statuses of the same kinds.
func codeStatus(c codes.Code) int {
	for k := kindBadRequest; k <= kindNotAllowed; k++ {
		if k.grpcCode() == c && k != kindTooLarge {
			return k.httpStatus()
		}
	}
	return 0
}

var clients = []struct {
	name string
	do   client
}{{"rest-json", restJSONClient}, {"rest-binary", restBinaryClient}, {"grpc", grpcClient}}

// gated wraps the reference engine in a testEngine whose calls wait for
// release; entered reports each call as it starts.
func gated(t testing.TB, m *deit.Model, maxBatch int) *testEngine {
	return &testEngine{Engine: refEngine(t, m, maxBatch), gate: make(chan struct{}), entered: make(chan int, 1000)}
}

// waitQueued waits until the server has n images admitted but not yet
// handed to the engine.
func waitQueued(t testing.TB, ts *testServer, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return ts.initial.b.queued.Load() == n }, 10*time.Second, time.Millisecond,
		"queued %d, want %d", ts.initial.b.queued.Load(), n)
}

func TestBatchesForm(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	const N = 12
	px := deit.RandomPixels(m.Config, N, 21)
	want, _ := forwardEach(t, eng.Engine, px, N)
	per, L := len(px)/N, m.Config.NumLabels

	answers := make([]answer, N)
	var wg sync.WaitGroup
	for i := range N {
		c := clients[i%len(clients)]
		wg.Go(func() { answers[i] = c.do(t.Context(), ts, px[i*per:(i+1)*per], 1) })
	}
	first := <-eng.entered // the first request(s) reached the engine, which holds them
	waitQueued(t, ts, int64(N-first))
	time.Sleep(20 * time.Millisecond) // let the last admitted requests reach the dispatcher
	close(eng.gate)
	wg.Wait()

	for i, a := range answers {
		require.NoError(t, a.err, "client %d", i)
		require.Equal(t, 200, a.status, "client %d", i)
		require.Equal(t, bits(want[i*L:(i+1)*L]), bits(a.logits), "client %d got another image's logits", i)
	}
	// While the engine was busy the other requests queued, so the rest ran
	// in full batches of 4 (then what was left).
	sizes := eng.calls()
	wantSizes := []int{first}
	for left := N - first; left > 0; left -= min(left, 4) {
		wantSizes = append(wantSizes, min(left, 4))
	}
	require.Equal(t, wantSizes, sizes)
	require.Less(t, len(sizes), N)
}

func TestMaxDelay(t *testing.T) {
	m := tinyModel(t)
	px := deit.RandomPixels(m.Config, 4, 31)
	per := len(px) / 4
	for _, tt := range []struct {
		name    string
		n       int
		delay   time.Duration
		calls   []int
		atLeast time.Duration // the first answer comes no sooner
		atMost  time.Duration // and no later
	}{
		// Three requests within the delay share one batch; it runs when
		// the oldest has waited the delay.
		{"partial batch waits", 3, 300 * time.Millisecond, []int{3}, 250 * time.Millisecond, 10 * time.Second},
		// A full batch does not wait.
		{"full batch runs at once", 4, 10 * time.Second, []int{4}, 0, 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eng := &testEngine{Engine: refEngine(t, m, 4)}
			ts := startServer(t, m, eng, Options{Name: "tiny", MaxDelay: tt.delay})
			t0 := time.Now()
			var wg sync.WaitGroup
			answers := make([]answer, tt.n)
			for i := range tt.n {
				wg.Go(func() { answers[i] = grpcClient(t.Context(), ts, px[i*per:(i+1)*per], 1) })
			}
			wg.Wait()
			took := time.Since(t0)
			for _, a := range answers {
				require.Equal(t, 200, a.status)
			}
			require.Equal(t, tt.calls, eng.calls())
			require.GreaterOrEqual(t, took, tt.atLeast)
			require.Less(t, took, tt.atMost)
		})
	}
}

func TestLargeRequestSplit(t *testing.T) {
	m := tinyModel(t)
	eng := &testEngine{Engine: refEngine(t, m, 4)}
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	const n = 10
	px := deit.RandomPixels(m.Config, n, 41)
	want, _ := forwardEach(t, eng.Engine, px, n)
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			before := len(eng.calls())
			a := c.do(t.Context(), ts, px, n)
			require.NoError(t, a.err)
			require.Equal(t, 200, a.status)
			require.Equal(t, bits(want), bits(a.logits))
			require.Equal(t, []int{4, 4, 2}, eng.calls()[before:])
		})
	}
}

func TestMixedOutputsShareBatches(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	px := deit.RandomPixels(m.Config, 5, 51)
	per := len(px) / 5
	wantL, wantE := forwardEach(t, eng.Engine, px, 5)
	D, H, L := m.Config.Hidden, m.Config.HeadTokens(), m.Config.NumLabels

	block := make(chan answer, 1)
	go func() { block <- grpcClient(t.Context(), ts, px[:per], 1) }()
	<-eng.entered
	type res struct {
		logits, emb []float32
		err         error
	}
	results := make([]res, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			outs := []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "logits"}}
			if i%2 == 1 {
				outs = append(outs, &inference.ModelInferRequest_InferRequestedOutputTensor{Name: "embedding"})
			}
			resp, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{ModelName: "tiny",
				Inputs:           []*inference.ModelInferRequest_InferInputTensor{{Name: "pixel_values", Datatype: "FP32", Shape: []int64{1, 3, 32, 32}}},
				RawInputContents: [][]byte{f32bytes(px[(i+1)*per : (i+2)*per])}, Outputs: outs})
			if err != nil {
				results[i].err = err
				return
			}
			raw := resp.GetRawOutputContents()
			results[i].logits, _ = decodeFP32("", raw[0], L, nil)
			if len(raw) > 1 {
				results[i].emb, _ = decodeFP32("", raw[1], D, nil)
			}
		})
	}
	waitQueued(t, ts, 4)
	time.Sleep(20 * time.Millisecond)
	close(eng.gate)
	wg.Wait()
	require.Equal(t, 200, (<-block).status)
	require.Equal(t, []int{1, 4}, eng.calls(), "requests with and without embeddings share a batch")
	for i, r := range results {
		require.NoError(t, r.err)
		k := i + 1
		require.Equal(t, bits(wantL[k*L:(k+1)*L]), bits(r.logits))
		if i%2 == 1 {
			require.Equal(t, bits(wantE[k*H*D:k*H*D+D]), bits(r.emb))
		} else {
			require.Nil(t, r.emb)
		}
	}
}

func TestQueueFull(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 2)
	ts := startServer(t, m, eng, Options{Name: "tiny", MaxQueue: 4})
	px := deit.RandomPixels(m.Config, 6, 61)
	per := len(px) / 6
	want, _ := forwardEach(t, eng.Engine, px, 6)

	first := make(chan answer, 1)
	go func() { first <- restBinaryClient(t.Context(), ts, px[:2*per], 2) }()
	require.Equal(t, 2, <-eng.entered) // in the engine: its places are free again
	second := make(chan answer, 1)
	go func() { second <- grpcClient(t.Context(), ts, px[2*per:6*per], 4) }()
	waitQueued(t, ts, 4) // the queue is full

	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			a := c.do(t.Context(), ts, px[:per], 1)
			require.NoError(t, a.err)
			require.Equal(t, 429, a.status)
			if c.name == "grpc" {
				require.Equal(t, codes.ResourceExhausted, a.code)
			}
			require.Less(t, time.Since(t0), 5*time.Second, "a full queue answers at once")
		})
	}
	status, h, body := httpDo(t, "POST", ts.url+"/v2/models/tiny/infer", http.Header{headerJSONLength: {"0"}}, readFile(t, "../samples/grace_hopper.jpg"))
	require.Equal(t, 429, status)
	require.Equal(t, "1", h.Get("Retry-After"))
	require.Contains(t, errorBody(t, body), "queue is full")

	close(eng.gate)
	a, b := <-first, <-second
	require.Equal(t, 200, a.status)
	require.Equal(t, bits(want[:20]), bits(a.logits))
	require.Equal(t, 200, b.status)
	require.Equal(t, bits(want[20:]), bits(b.logits))
	require.Equal(t, []int{2, 2, 2}, eng.calls())
	require.Equal(t, int64(0), ts.initial.b.queued.Load())
}

func TestDeadlinesAndCancellation(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 2)
	ts := startServer(t, m, eng, Options{Name: "tiny", Timeout: 300 * time.Millisecond})
	px := deit.RandomPixels(m.Config, 1, 71)

	// The first request holds the engine (and will time out in it).
	busy := make(chan answer, 1)
	go func() { busy <- restJSONClient(context.Background(), ts, px, 1) }()
	<-eng.entered

	t.Run("server timeout", func(t *testing.T) {
		for _, c := range clients {
			a := c.do(context.Background(), ts, px, 1)
			require.NoError(t, a.err, c.name)
			require.Equal(t, 504, a.status, c.name)
		}
		require.Equal(t, int64(0), ts.initial.b.queued.Load(), "expired requests give their places back")
	})
	t.Run("client deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		a := grpcClient(ctx, ts, px, 1)
		require.Equal(t, codes.DeadlineExceeded, a.code)
		require.Eventually(t, func() bool { return ts.initial.b.queued.Load() == 0 }, 5*time.Second, time.Millisecond)
	})
	t.Run("client cancels", func(t *testing.T) {
		for _, c := range clients {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan answer, 1)
			go func() { done <- c.do(ctx, ts, px, 1) }()
			waitQueued(t, ts, 1)
			cancel()
			a := <-done
			// The client sees its own cancellation, and its place is free.
			require.True(t, a.err != nil || a.code == codes.Canceled, "%s: %+v", c.name, a)
			waitQueued(t, ts, 0)
		}
	})
	require.Equal(t, 504, (<-busy).status)
	close(eng.gate)
	// None of the abandoned requests reached the engine: only the first did.
	require.Equal(t, []int{1}, eng.calls())
	a := grpcClient(t.Context(), ts, px, 1)
	require.Equal(t, 200, a.status, "the server works on")
	// The client whose deadline passed counts as canceled or as deadline
	// exceeded, whichever the server noticed first.
	rest := func() float64 {
		return counterValue(t, ts, `vkdeit_inference_requests_total{code="499",model="tiny",protocol="rest"}`)
	}
	grpc := func() float64 {
		return max(counterValue(t, ts, `vkdeit_inference_requests_total{code="Canceled",model="tiny",protocol="grpc"}`), 0) +
			max(counterValue(t, ts, `vkdeit_inference_requests_total{code="DeadlineExceeded",model="tiny",protocol="grpc"}`), 0)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if rest() == 2 && grpc() == 3 {
			break
		}
	}
	require.Equal(t, 2.0, rest(), "REST cancellations are counted")
	require.Equal(t, 3.0, grpc(), "gRPC timeouts and cancellations are counted")
	require.Equal(t, 3.0, counterValue(t, ts, `vkdeit_inference_requests_total{code="504",model="tiny",protocol="rest"}`), "REST timeouts are counted")
}

func TestShutdownUnderLoad(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny", DrainTimeout: 20 * time.Second})
	const N = 9
	px := deit.RandomPixels(m.Config, N, 81)
	per, L := len(px)/N, m.Config.NumLabels
	want, _ := forwardEach(t, eng.Engine, px, N)
	answers := make([]answer, N)
	var wg sync.WaitGroup
	for i := range N {
		c := clients[i%len(clients)]
		wg.Go(func() { answers[i] = c.do(context.Background(), ts, px[i*per:(i+1)*per], 1) })
	}
	first := <-eng.entered
	waitQueued(t, ts, int64(N-first))

	served := make(chan error, 1)
	go func() { served <- ts.stop(t) }()
	require.Eventually(t, func() bool { return !ts.Ready() }, 5*time.Second, time.Millisecond, "readiness turns false")
	// New work is refused while the accepted requests drain.
	a := grpcClient(t.Context(), ts, px[:per], 1)
	require.NotEqual(t, 200, a.status)
	close(eng.gate)
	wg.Wait()
	require.NoError(t, <-served, "every request drained within the timeout")
	for i, a := range answers {
		require.NoError(t, a.err, "client %d", i)
		require.Equal(t, 200, a.status, "client %d: an accepted request was not answered", i)
		require.Equal(t, bits(want[i*L:(i+1)*L]), bits(a.logits), "client %d", i)
	}
	total := 0
	for _, s := range eng.calls() {
		total += s
	}
	require.Equal(t, N, total, "each accepted image ran exactly once")
}

func TestShutdownDrainTimeout(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 2) // never released: the engine hangs
	ts := startServer(t, m, eng, Options{Name: "tiny", DrainTimeout: 300 * time.Millisecond})
	px := deit.RandomPixels(m.Config, 1, 91)
	answers := make(chan answer, 2)
	go func() { answers <- grpcClient(context.Background(), ts, px, 1) }()
	<-eng.entered
	go func() { answers <- restJSONClient(context.Background(), ts, px, 1) }()
	waitQueued(t, ts, 1)
	t0 := time.Now()
	err := ts.stop(t)
	require.ErrorContains(t, err, "drain timeout")
	require.Less(t, time.Since(t0), 5*time.Second, "shutdown is bounded by the drain timeout")
	for range 2 {
		// Both are cut short with an answer: 503 / UNAVAILABLE.
		a := <-answers
		require.NoError(t, a.err)
		require.Equal(t, 503, a.status)
	}
}

func TestEngineFailure(t *testing.T) {
	m := tinyModel(t)
	eng := &testEngine{Engine: refEngine(t, m, 4), panics: true}
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	px := deit.RandomPixels(m.Config, 1, 101)
	for _, c := range clients {
		a := c.do(t.Context(), ts, px, 1)
		require.NoError(t, a.err, "%s: a panic must not drop the connection", c.name)
		require.Equal(t, 500, a.status, c.name)
	}
	status, _, body := postJSON(t, ts.url+"/v2/models/tiny/infer", map[string]any{"inputs": []any{map[string]any{
		"name": "pixel_values", "datatype": "FP32", "shape": []int{1, 3, 32, 32}, "data": px}}})
	require.Equal(t, 500, status)
	require.Contains(t, errorBody(t, body), "panicked")
	eng.mu.Lock()
	eng.panics, eng.fail = false, fmt.Errorf("device lost")
	eng.mu.Unlock()
	_, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{ModelName: "tiny",
		Inputs:           []*inference.ModelInferRequest_InferInputTensor{{Name: "pixel_values", Datatype: "FP32", Shape: []int64{1, 3, 32, 32}}},
		RawInputContents: [][]byte{f32bytes(px)}})
	requireCode(t, err, codes.Internal, "device lost")
	eng.mu.Lock()
	eng.fail = nil
	eng.mu.Unlock()
	require.Equal(t, 200, grpcClient(t.Context(), ts, px, 1).status, "the server recovers")
}

func TestNoGoroutineLeak(t *testing.T) {
	m := tinyModel(t)
	http.DefaultClient.CloseIdleConnections()
	base := runtime.NumGoroutine()
	func() {
		ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", Timeout: time.Second})
		px := deit.RandomPixels(m.Config, 2, 111)
		for i := range 30 {
			c := clients[i%len(clients)]
			ctx, cancel := context.WithCancel(t.Context())
			if i%5 == 4 {
				cancel() // some clients give up at once
			}
			c.do(ctx, ts, px, 1+i%2)
			cancel()
		}
		require.NoError(t, ts.stop(t))
		ts.conn.Close()
	}()
	http.DefaultClient.CloseIdleConnections()
	// Polled here, not with require.Eventually, whose own goroutines count.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > base && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("goroutines: %d before, %d after\n%s", base, n, goroutineDump())
	}
}

// goroutineDump is every goroutine's stack, for a leak report.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func TestRequestsInProgressBounded(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 1)
	ts := startServer(t, m, eng, Options{Name: "tiny", MaxBatch: 1, MaxQueue: 2})
	px := deit.RandomPixels(m.Config, 1, 131)
	held := make(chan answer, 2)
	go func() { held <- grpcClient(t.Context(), ts, px, 1) }()
	<-eng.entered // in the engine: no queue place, but still in progress
	go func() { held <- restJSONClient(t.Context(), ts, px, 1) }()
	waitQueued(t, ts, 1) // queued: one place of two taken
	for _, c := range clients {
		a := c.do(t.Context(), ts, px, 1)
		require.NoError(t, a.err, c.name)
		require.Equal(t, 429, a.status, "%s: two requests in progress is the limit", c.name)
	}
	status, _, body := postJSON(t, ts.url+"/v2/models/tiny/infer", map[string]any{"inputs": []any{}})
	require.Equal(t, 429, status, "refused once its body is read")
	require.Contains(t, errorBody(t, body), "2 requests are in progress")
	close(eng.gate)
	require.Equal(t, 200, (<-held).status)
	require.Equal(t, 200, (<-held).status)
}
