package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/server/inference"
)

// The attacks of issue "the server must survive hostile clients", as
// tests against an in-process server on 127.0.0.1. Memory is measured as
// the peak of the Go heap (live objects and garbage not yet collected)
// over a baseline taken after a GC, sampled every 2 ms while the attack
// runs; each bound is derived next to its test, with room for the
// garbage a collection cycle lets pile up (GOGC=100: up to the live heap
// again) and for the client side, which lives in the same heap.

// heapWatch samples the heap's peak over a baseline.
type heapWatch struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchHeap() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &heapWatch{base: ms.HeapAlloc, stop: make(chan struct{}), done: make(chan struct{})}
	w.peak.Store(ms.HeapAlloc)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > w.peak.Load() {
					w.peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	return w
}

// growth stops the sampling and returns the peak's growth over the
// baseline, in bytes.
func (w *heapWatch) growth() int64 {
	close(w.stop)
	<-w.done
	return int64(w.peak.Load()) - int64(w.base)
}

const mib = 1 << 20

// post sends a body and returns the status and the answer's body, without
// failing the test (it runs on goroutines of its own).
func post(url string, h http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// emptyInputsJSON is a JSON request of about size bytes: {"inputs":[{},{},…]}.
func emptyInputsJSON(size int) []byte {
	b := []byte(`{"inputs":[{}`)
	for len(b) < size-3 {
		b = append(b, ",{}"...)
	}
	return append(b, "]}"...)
}

func TestHostileRESTDecodeBounded(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 2), Options{Name: "tiny", MaxRequestBytes: 4 * mib, MaxQueue: 128})
	url := ts.url + "/v2/models/tiny/infer"
	jsonH := http.Header{"Content-Type": {"application/json"}}
	empties := emptyInputsJSON(4*mib - 100)
	// 128 images declared, one value sent: the pixels of 128 images are
	// 1.5 MiB, which must not be allocated before the values are counted.
	declared := []byte(`{"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[128,3,32,32],"data":[0]}]}`)
	dims := []byte(`{"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[1` + strings.Repeat(",1", 2*mib/2-20) + `],"data":[0]}]}`)

	tests := []struct {
		name    string
		body    []byte
		clients int
		msg     string
		// bound on the heap's growth: the bodies the server holds (read as
		// they arrive, in buffers at most twice what arrived), its scans
		// (which allocate nothing), garbage up to as much again, and 4 MiB
		// of slack. Before the fix, each empty-inputs body decoded to
		// about 330 MiB of input structs; each declared request allocated
		// 1.5 MiB of pixels, 64 at once; each 1-million-dimension shape
		// 8 MiB of int64s.
		bound int64
	}{
		{"4 MiB of empty inputs, twice at once", empties, 2, "more than one input", 2*2*8*mib + 4*mib},
		{"128 images declared, one value sent, 64 at once", declared, 64, "1 values; its shape says 393216", 16 * mib},
		{"a shape of a million dimensions, 4 at once", dims, 4, "more than 4 dimensions", 4*2*4*mib + 4*mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := watchHeap()
			var wg sync.WaitGroup
			statuses := make([]int, tt.clients)
			msgs := make([]string, tt.clients)
			for i := range tt.clients {
				wg.Go(func() {
					st, body, err := post(url, jsonH, tt.body)
					statuses[i], msgs[i] = st, fmt.Sprint(string(body), err)
				})
			}
			wg.Wait()
			grew := w.growth()
			t.Logf("heap grew %.1f MiB (bound %d MiB)", float64(grew)/mib, tt.bound/mib)
			require.Less(t, grew, tt.bound, "heap growth while decoding hostile requests")
			for i := range tt.clients {
				require.Equal(t, 400, statuses[i], clip(msgs[i]))
				require.Contains(t, clip(msgs[i]), tt.msg)
				require.Less(t, len(msgs[i]), 1<<10, "an error never echoes the request")
			}
		})
	}
}

// rawCodec sends and receives gRPC messages as bytes the test wrote.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// inferRaw sends msg as a ModelInferRequest's wire bytes.
func inferRaw(ctx context.Context, ts *testServer, msg []byte) error {
	var out []byte
	return ts.conn.Invoke(ctx, inference.GRPCInferenceService_ModelInfer_FullMethodName, &msg, &out, grpc.ForceCodecV2(rawCodec{}))
}

// wireField appends a length-delimited field.
func wireField(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// wireInput is an InferInputTensor's wire bytes with the given shape
// (packed) and fields appended.
func wireInput(name, datatype string, shape []int64, extra []byte) []byte {
	b := wireField(nil, 1, []byte(name))
	b = wireField(b, 2, []byte(datatype))
	var packed []byte
	for _, d := range shape {
		packed = protowire.AppendVarint(packed, uint64(d))
	}
	b = wireField(b, fieldInShape, packed)
	return append(b, extra...)
}

func TestHostileGRPCDecodeBounded(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 2), Options{Name: "tiny", MaxRequestBytes: 4 * mib, MaxQueue: 128})
	head := wireField(nil, 1, []byte("tiny"))
	// 2 million empty inputs: 4 MiB on the wire.
	empties := bytes.Repeat([]byte{byte(fieldReqInputs<<3 | protowire.BytesType), 0}, 2*mib-8)
	// A million empty bytes_contents.
	contents := wireField(nil, fieldInContents, bytes.Repeat([]byte{byte(fieldContentsByte<<3 | protowire.BytesType), 0}, mib))
	images := wireField(nil, fieldReqInputs, wireInput("image", "BYTES", []int64{1}, contents))
	// 2 million empty raw_input_contents.
	raws := append(wireField(nil, fieldReqInputs, wireInput("image", "BYTES", []int64{1}, nil)),
		bytes.Repeat([]byte{byte(fieldReqRaw<<3 | protowire.BytesType), 0}, 2*mib-100)...)
	// A shape of a million dimensions (item 11: the status must not echo it).
	ones := make([]int64, mib)
	for i := range ones {
		ones[i] = 1
	}
	dims := wireField(nil, fieldReqInputs, wireInput("pixel_values", "FP32", ones, nil))

	tests := []struct {
		name    string
		msg     []byte
		clients int
		code    codes.Code
		text    string
		// bound on the heap's growth: per call, the message in grpc-go's
		// buffers and the codec's copy of it (2 × 4 MiB), garbage up to as
		// much again, and 4 MiB of slack. Before the fix, 2 million empty
		// inputs decoded to about 400 MiB per call, a million
		// bytes_contents or raw_input_contents to 24 bytes each, and a
		// million dimensions to 8 MiB.
		bound int64
	}{
		{"4 MiB of empty inputs, twice at once", empties, 2, codes.InvalidArgument, "more than one input", 2*2*2*4*mib + 4*mib},
		{"a million bytes_contents", images, 2, codes.ResourceExhausted, "more than 128 bytes_contents", 2*2*2*2*mib + 4*mib},
		{"2 million raw_input_contents", raws, 2, codes.InvalidArgument, "more than one raw_input_contents", 2*2*2*4*mib + 4*mib},
		{"a shape of a million dimensions", dims, 2, codes.InvalidArgument, "more than 4 dimensions", 2*2*2*2*mib + 4*mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := append(append([]byte(nil), head...), tt.msg...)
			require.LessOrEqual(t, len(msg), 4*mib)
			w := watchHeap()
			errs := make([]error, tt.clients)
			var wg sync.WaitGroup
			for i := range tt.clients {
				wg.Go(func() { errs[i] = inferRaw(t.Context(), ts, msg) })
			}
			wg.Wait()
			grew := w.growth()
			t.Logf("heap grew %.1f MiB (bound %d MiB)", float64(grew)/mib, tt.bound/mib)
			require.Less(t, grew, tt.bound, "heap growth while decoding hostile messages")
			for _, err := range errs {
				require.Less(t, len(status.Convert(err).Message()), 1<<10, "a status never echoes the request")
				requireCode(t, err, tt.code, tt.text)
			}
		})
	}
	// The server still serves.
	require.Equal(t, 200, grpcClient(t.Context(), ts, deit.RandomPixels(m.Config, 1, 1), 1).status)
}

// slowUpload posts to path with the given Content-Length (-1: chunked)
// and sends one body byte every `every` until stop is closed or the
// server answers; it returns the status the server answered (0 if it
// closed the connection without one).
func slowUpload(addr, path string, contentLength int, every time.Duration, stop <-chan struct{}) int {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return -1
	}
	defer conn.Close()
	hdr := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", path)
	if contentLength >= 0 {
		hdr += fmt.Sprintf("Content-Length: %d\r\n\r\n", contentLength)
	} else {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	}
	if _, err := conn.Write([]byte(hdr)); err != nil {
		return -1
	}
	answered := make(chan int, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case st := <-answered:
			return st
		case <-stop:
			conn.Close()
			return <-answered
		case <-tick.C:
			b := []byte(" ")
			if contentLength < 0 {
				b = []byte("1\r\n \r\n")
			}
			conn.Write(b) // an error shows as the answer (or its absence)
		}
	}
}

func TestHostileSlowUploaders(t *testing.T) {
	m := tinyModel(t)
	const slow = 12
	// 8 inference slots, fewer than the slow clients: before the fix each
	// took one while it trickled, and every good request got 429.
	ts := startServerWith(t, m, refEngine(t, m, 4), Options{Name: "tiny", MaxQueue: 8, MaxRequestBytes: 4 * mib},
		func(s *Server) { s.pace = bodyPace{grace: 500 * time.Millisecond, minRate: 4 << 10} })
	addr := strings.TrimPrefix(ts.url, "http://")
	w := watchHeap()
	stop := make(chan struct{})
	statuses := make(chan int, slow)
	for i := range slow {
		// Half announce 4 MiB (before the fix, buffers of 4 MiB each),
		// half send chunks.
		cl := 4*mib - 1
		if i%2 == 1 {
			cl = -1
		}
		go func() { statuses <- slowUpload(addr, "/v2/models/tiny/infer", cl, 50*time.Millisecond, stop) }()
	}
	time.Sleep(100 * time.Millisecond) // the slow clients are all sending
	px := deit.RandomPixels(m.Config, 1, 7)
	for i := range 6 {
		c := clients[i%len(clients)]
		a := c.do(t.Context(), ts, px, 1)
		require.NoError(t, a.err, c.name)
		require.Equal(t, 200, a.status, "%s: a good request beside slow uploaders", c.name)
	}
	// The slow ones are cut off once past their grace: 408.
	deadline := time.After(10 * time.Second)
	for range slow {
		select {
		case st := <-statuses:
			require.Equal(t, http.StatusRequestTimeout, st, "a slow uploader's answer")
		case <-deadline:
			close(stop)
			t.Fatal("slow uploaders were not cut off within 10 s")
		}
	}
	close(stop)
	grew := w.growth()
	// Bound: 12 first body buffers of 16 KiB, the good requests' few
	// hundred KiB, and slack. Before the fix the announced lengths alone
	// were 6 × 4 MiB.
	t.Logf("heap grew %.1f MiB", float64(grew)/mib)
	require.Less(t, grew, int64(8*mib), "memory held by slow uploaders")
}

func TestHostileMemoryBudget(t *testing.T) {
	m := tinyModel(t)
	// A budget of 8 × 64 KiB: one body of 64 KiB fits, while the
	// budget's bytes are all taken, the next request is refused at once.
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", MaxRequestBytes: 64 << 10})
	c := &claim{m: ts.mem}
	require.NoError(t, c.grow(ts.mem.limit-1000))
	px := deit.RandomPixels(m.Config, 1, 9)
	a := restBinaryClient(t.Context(), ts, px, 1)
	require.Equal(t, 429, a.status, "a body that does not fit in what is left of the budget")
	require.Equal(t, 429, grpcClient(t.Context(), ts, px, 1).status, "a gRPC message that does not fit either")
	c.release()
	require.Zero(t, ts.mem.used.Load())
	require.Equal(t, 200, restBinaryClient(t.Context(), ts, px, 1).status)
	require.Equal(t, 200, grpcClient(t.Context(), ts, px, 1).status)
	require.Zero(t, ts.mem.used.Load(), "every request gave its bytes back")
}

// poisonEngine refuses a whole batch when one of its images starts with
// the value poison, as an engine checking its inputs does, naming that
// image.
type poisonEngine struct {
	*testEngine
	per int
}

const poison = 7777

func (e *poisonEngine) check(px []float32, B int) error {
	for i := range B {
		if px[i*e.per] == poison {
			return fmt.Errorf("image %d: %w", i, classify.ErrNonFinite)
		}
	}
	return nil
}

func (e *poisonEngine) Run(ctx context.Context, px []float32, B int, taps deit.Tap) (*engine.Output, error) {
	out, err := e.testEngine.Run(ctx, px, B, taps)
	if err == nil {
		err = e.check(px, B)
	}
	return out, err
}

func TestHostileOneBadRequestInABatch(t *testing.T) {
	m := tinyModel(t)
	eng := gated(t, m, 8)
	pe := &poisonEngine{testEngine: eng, per: 3 * 32 * 32}
	ts := startServer(t, m, pe, Options{Name: "tiny", MaxBatch: 8})
	const N = 8
	px := deit.RandomPixels(m.Config, N+1, 21)
	per, L := len(px)/(N+1), m.Config.NumLabels
	px[3*per] = poison // client 3's image
	want, _ := forwardEach(t, eng.Engine, px, N+1)
	// A first request holds the engine while the 8 queue, so that they
	// form one batch.
	first := make(chan answer, 1)
	go func() { first <- restBinaryClient(t.Context(), ts, px[N*per:], 1) }()
	<-eng.entered
	answers := make([]answer, N)
	var wg sync.WaitGroup
	for i := range N {
		c := clients[i%len(clients)]
		wg.Go(func() { answers[i] = c.do(t.Context(), ts, px[i*per:(i+1)*per], 1) })
	}
	waitQueued(t, ts, N)
	close(eng.gate)
	wg.Wait()
	require.Equal(t, 200, (<-first).status)
	require.Equal(t, []int{1, N, 1, 1, 1, 1, 1, 1, 1, 1}, eng.calls(), "the first request, one batch of 8, then each request alone")
	for i, a := range answers {
		require.NoError(t, a.err)
		if i == 3 {
			require.Equal(t, 400, a.status, "the request the engine refused is the client's fault")
			continue
		}
		require.Equal(t, 200, a.status, "client %d: another client's bad image failed it", i)
		require.Equal(t, bits(want[i*L:(i+1)*L]), bits(a.logits), "client %d", i)
	}
}

func TestHostileNonFiniteInputs(t *testing.T) {
	m := tinyModel(t)
	eng := &testEngine{Engine: refEngine(t, m, 4)}
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		px := deit.RandomPixels(m.Config, 2, 5)
		px[3072+17] = v
		for _, c := range clients[1:] { // JSON cannot carry NaN or Inf
			a := c.do(t.Context(), ts, px, 2)
			require.NoError(t, a.err)
			require.Equal(t, 400, a.status, "%s: %v pixels", c.name, v)
		}
		_, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{ModelName: "tiny",
			Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: "pixel_values", Datatype: "FP32", Shape: []int64{2, 3, 32, 32},
				Contents: &inference.InferTensorContents{Fp32Contents: px}}}})
		requireCode(t, err, codes.InvalidArgument, fmt.Sprintf("value 3089 (image 1) is %v; pixel values must be finite", v))
	}
	require.Empty(t, eng.calls(), "no non-finite pixels reach the engine")
}

func TestHostileErrorsDoNotEcho(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny"})
	huge := strings.Repeat("x", 1<<20)
	body := []byte(`{"inputs":[{"name":"` + huge + `","datatype":"FP32","shape":[1,3,32,32],"data":[0]}]}`)
	code, _, rb := httpDo(t, "POST", ts.url+"/v2/models/tiny/infer", http.Header{"Content-Type": {"application/json"}}, body)
	require.Equal(t, 400, code)
	require.Less(t, len(rb), 1<<10, "a 400 never echoes a megabyte input name")
	require.Contains(t, errorBody(t, rb), `unknown input "xxxxxxxx`)
	require.Contains(t, errorBody(t, rb), "(1048576 bytes)")

	number := []byte(`{"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[1` + strings.Repeat("0", 1<<20) + `,3,32,32],"data":[0]}]}`)
	code, _, rb = httpDo(t, "POST", ts.url+"/v2/models/tiny/infer", http.Header{"Content-Type": {"application/json"}}, number)
	require.Equal(t, 400, code)
	require.LessOrEqual(t, len(rb), maxErrorMessage+64, "a 400 never echoes a megabyte number")

	_, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{ModelName: huge})
	requireCode(t, err, codes.NotFound, `unknown model "xxxx`)
	require.Less(t, len(status.Convert(err).Message()), 1<<10)
	_, err = ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{ModelName: "tiny",
		Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: "pixel_values", Datatype: huge, Shape: []int64{1, 3, 32, 32}}}})
	requireCode(t, err, codes.InvalidArgument, "unknown datatype")
	require.Less(t, len(status.Convert(err).Message()), 1<<10)
}

func TestShutdownCutsSlowUpload(t *testing.T) {
	m := tinyModel(t)
	// Pacing that a byte every 20 ms passes: only the drain ends it.
	ts := startServerWith(t, m, refEngine(t, m, 4), Options{Name: "tiny", DrainTimeout: 300 * time.Millisecond},
		func(s *Server) { s.pace = bodyPace{grace: time.Minute, minRate: 1} })
	addr := strings.TrimPrefix(ts.url, "http://")
	stop := make(chan struct{})
	defer close(stop)
	answered := make(chan int, 1)
	go func() { answered <- slowUpload(addr, "/v2/models/tiny/infer", 1<<20, 20*time.Millisecond, stop) }()
	require.Eventually(t, func() bool { return ts.activeREST.Load() == 1 }, 5*time.Second, time.Millisecond)
	t0 := time.Now()
	err := ts.stop(t)
	require.ErrorIs(t, err, ErrDrainCutShort, "a drain cut short is reported as such")
	require.Less(t, time.Since(t0), 3*time.Second, "the upload does not hold the drain past its timeout")
	require.Equal(t, 503, <-answered, "the upload is answered: the server is shutting down")
}

func TestShutdownCleanReturnsNil(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny"})
	require.Equal(t, 200, restBinaryClient(t.Context(), ts, deit.RandomPixels(m.Config, 1, 3), 1).status)
	err := ts.stop(t)
	require.NoError(t, err)
	require.False(t, errors.Is(err, ErrDrainCutShort))
}

// TestHostileSoak runs good clients of every protocol beside hostile ones
// of every kind: every good request must succeed, and the heap must stay
// within the bound the server promises (see README "Bad input and
// limits"), and come back down once it is over. -short runs it briefly.
func TestHostileSoak(t *testing.T) {
	dur := 10 * time.Second
	if testing.Short() {
		dur = 1500 * time.Millisecond
	}
	m := tinyModel(t)
	const limit = 2 * mib
	ts := startServerWith(t, m, refEngine(t, m, 8), Options{Name: "tiny", MaxRequestBytes: limit, MaxQueue: 64, Timeout: 20 * time.Second},
		func(s *Server) { s.pace = bodyPace{grace: 200 * time.Millisecond, minRate: 8 << 10} })
	addr := strings.TrimPrefix(ts.url, "http://")
	url := ts.url + "/v2/models/tiny/infer"
	jsonH := http.Header{"Content-Type": {"application/json"}}
	empties := emptyInputsJSON(limit - 100)
	declared := []byte(`{"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[64,3,32,32],"data":[0]}]}`)
	nan := deit.RandomPixels(m.Config, 1, 1)
	nan[5] = float32(math.NaN())
	grpcEmpties := append(wireField(nil, 1, []byte("tiny")), bytes.Repeat([]byte{byte(fieldReqInputs<<3 | protowire.BytesType), 0}, limit/2-8)...)

	w := watchHeap()
	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	stop := make(chan struct{})
	var hostile, good sync.WaitGroup
	var hostileN atomic.Int64
	loop := func(f func()) {
		hostile.Go(func() {
			for ctx.Err() == nil {
				f()
				hostileN.Add(1)
			}
		})
	}
	for range 4 {
		loop(func() { slowUpload(addr, "/v2/models/tiny/infer", limit, 30*time.Millisecond, stop) })
	}
	loop(func() { post(url, jsonH, empties) })
	loop(func() { post(url, jsonH, declared) })
	loop(func() { restBinaryClient(ctx, ts, nan, 1) })
	loop(func() { inferRaw(ctx, ts, grpcEmpties) })

	var goodN atomic.Int64
	px := deit.RandomPixels(m.Config, 2, 33)
	for i := range 6 {
		c := clients[i%len(clients)]
		good.Go(func() {
			for ctx.Err() == nil {
				a := c.do(context.Background(), ts, px, 2)
				if a.err == nil && a.status == 200 {
					goodN.Add(1)
					continue
				}
				t.Errorf("%s: a good request failed beside hostile ones: status %d, err %v", c.name, a.status, a.err)
				return
			}
		})
	}
	good.Wait()
	close(stop)
	hostile.Wait()
	grew := w.growth()
	t.Logf("%d good requests, %d hostile ones; heap grew at most %.1f MiB", goodN.Load(), hostileN.Load(), float64(grew)/mib)
	require.Positive(t, goodN.Load())
	// The server's bound for this configuration: the memory budget (8 ×
	// 2 MiB) plus the queue's images (64 × 12 KiB) and up to 8 gRPC
	// messages in receipt (8 × 2 × 2 MiB), plus as much again in garbage,
	// plus the clients' own buffers (a few MiB).
	require.Less(t, grew, int64(2*(16+1+32)*mib+8*mib), "peak heap under a hostile mix")
	// Memory comes back: nothing is held after the clients are gone.
	require.Eventually(t, func() bool { return ts.mem.used.Load() == 0 }, 5*time.Second, 10*time.Millisecond, "request bytes still held")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	require.Less(t, int64(ms.HeapAlloc)-int64(w.base), int64(8*mib), "live heap after the soak, over the baseline")
}
