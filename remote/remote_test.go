package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/internal/fixture/fixturemodel"
	"github.com/vkdeit/vkdeit/server"
)

func TestParseTarget(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want target
		err  string
	}{
		{in: "http://a:8080", want: target{host: "a:8080"}},
		{in: "a:8080/", want: target{host: "a:8080"}},
		{in: "https://x.example.com/v2/models/deit/infer", want: target{host: "x.example.com", tls: true, model: "deit"}},
		{in: "http://a:1/proxy/v2/models/m/versions/3", want: target{host: "a:1", prefix: "/proxy", model: "m", version: "3"}},
		{in: "http://a:1/proxy/v2", want: target{host: "a:1", prefix: "/proxy"}},
		{in: "grpc://10.0.0.1:8081", want: target{host: "10.0.0.1:8081", grpc: true}},
		{in: "grpcs://h:443/v2/models/m", want: target{host: "h:443", grpc: true, tls: true, model: "m"}},
		{in: "", err: "empty server URL"},
		{in: "ftp://a:1", err: `scheme "ftp"`},
		{in: "grpc://host", err: "no host:port"},
		{in: "grpc://h:1/prefix", err: "a gRPC endpoint has no path prefix"},
		{in: "http://h:1/v2/models/m/extra", err: "want /v2/models/NAME[/versions/V]"},
		{in: "http://h:1/?x=1", err: "a URL with a query"},
	} {
		got, err := parseTarget(tt.in)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		tt.want.raw = tt.in
		require.Equal(t, tt.want, got, tt.in)
	}
}

func TestSignature(t *testing.T) {
	vkdeit := modelMeta{Name: "deit", Platform: "vkdeit",
		Inputs: []tensorMeta{{"pixel_values", "FP32", []int64{-1, 3, 224, 224}}, {"image", "BYTES", []int64{-1}}},
		Outputs: []tensorMeta{{"logits", "FP32", []int64{-1, 1000}}, {"probabilities", "FP32", []int64{-1, 1000}},
			{"embedding", "FP32", []int64{-1, 768}}, {"distillation_embedding", "FP32", []int64{-1, 768}}}}
	onnx := modelMeta{Name: "resnet", Platform: "onnxruntime_onnx",
		Inputs:  []tensorMeta{{"input__0", "FP32", []int64{-1, 3, 384, 384}}},
		Outputs: []tensorMeta{{"output__0", "FP32", []int64{-1, 21843}}}}
	unbatched := modelMeta{Name: "u", Inputs: []tensorMeta{{"x", "FP32", []int64{3, 32, 32}}},
		Outputs: []tensorMeta{{"y", "FP32", []int64{10}}}}
	for _, tt := range []struct {
		name string
		md   modelMeta
		kind string
		want Signature
		err  string
	}{
		{name: "vkdeit", md: vkdeit, want: Signature{Model: "deit", Platform: "vkdeit", Input: "image", Encoded: true, batched: true,
			Logits: "logits", NumLabels: 1000, Embedding: "embedding", DistillationEmbedding: "distillation_embedding", Hidden: 768}},
		{name: "vkdeit pixels", md: vkdeit, kind: InputPixels, want: Signature{Model: "deit", Platform: "vkdeit", Input: "pixel_values",
			Channels: 3, Size: 224, batched: true, Logits: "logits", NumLabels: 1000, Embedding: "embedding",
			DistillationEmbedding: "distillation_embedding", Hidden: 768}},
		{name: "triton onnx", md: onnx, want: Signature{Model: "resnet", Platform: "onnxruntime_onnx", Input: "input__0",
			Channels: 3, Size: 384, batched: true, Logits: "output__0", NumLabels: 21843}},
		{name: "no batch dimension", md: unbatched, want: Signature{Model: "u", Input: "x", Channels: 3, Size: 32, Logits: "y", NumLabels: 10}},
		{name: "image forced on onnx", md: onnx, kind: InputImage, err: `wants a BYTES input "image" [-1] (encoded images), the model has input__0 FP32 [-1, 3, 384, 384]`},
		{name: "NHWC", md: modelMeta{Name: "n", Inputs: []tensorMeta{{"x", "FP32", []int64{-1, 224, 224, 3}}}, Outputs: onnx.Outputs},
			err: "no input vkdeit can send"},
		{name: "FP16 output only", md: modelMeta{Name: "h", Inputs: onnx.Inputs, Outputs: []tensorMeta{{"y", "FP16", []int64{-1, 10}}}},
			err: "no FP32 output named logits or embedding, nor a single FP32 output; it has y FP16 [-1, 10]"},
	} {
		got, err := signatureFor(tt.md, tt.kind)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, *got, tt.name)
	}
}

// testServer is a vkdeit server on two loopback listeners that can be
// killed: its listeners and every connection closed at once, as the
// network sees a process die.
type testServer struct {
	rest, grpc string // URLs
	listeners  []*killable
}

func (s *testServer) kill() {
	for _, l := range s.listeners {
		l.kill()
	}
}

// killable is a listener whose kill closes it and every connection it
// accepted.
type killable struct {
	net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

func (k *killable) Accept() (net.Conn, error) {
	c, err := k.Listener.Accept()
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.killed {
		c.Close()
		return nil, net.ErrClosed
	}
	k.conns = append(k.conns, c)
	return c, nil
}

func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.killed = true
	k.Listener.Close()
	for _, c := range k.conns {
		c.Close()
	}
}

// refEngine is the float64 reference engine for m.
func refEngine(t testing.TB, m *deit.Model) engine.Engine {
	t.Helper()
	e, err := engine.New(m, engine.Options{Device: "ref", MaxBatch: 4, Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// startServer serves the tiny model as "tiny" on the reference engine.
func startServer(t *testing.T, m *deit.Model) *testServer {
	t.Helper()
	s, err := server.New(m, refEngine(t, m), server.Options{Name: "tiny", Logger: slog.New(slog.DiscardHandler), DrainTimeout: time.Second})
	require.NoError(t, err)
	var ls [2]*killable
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls[i] = &killable{Listener: l}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ls[0], ls[1]); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
	require.Eventually(t, s.Ready, 5*time.Second, time.Millisecond)
	return &testServer{rest: "http://" + ls[0].Addr().String(), grpc: "grpc://" + ls[1].Addr().String(), listeners: ls[:]}
}

// writeImages writes n PNG images (one of them not an image when bad is
// set) and returns them as inputs.
func writeImages(t *testing.T, n int, bad int) []classify.Input {
	t.Helper()
	dir := t.TempDir()
	ins := make([]classify.Input, n)
	for i := range ins {
		p := filepath.Join(dir, fmt.Sprintf("%03d.png", i))
		var b bytes.Buffer
		if i == bad {
			b.WriteString("not an image")
		} else {
			img := image.NewNRGBA(image.Rect(0, 0, 40+i%7, 33+i%5))
			for y := range img.Rect.Dy() {
				for x := range img.Rect.Dx() {
					img.Set(x, y, color.NRGBA{uint8(x*7 + i*13), uint8(y*5 + i), uint8(x*y + 3*i), 255})
				}
			}
			require.NoError(t, png.Encode(&b, img))
		}
		require.NoError(t, os.WriteFile(p, b.Bytes(), 0o644))
		ins[i] = classify.Input{Path: p}
	}
	return ins
}

// local is what classify.Classifier gives for ins on the reference engine.
func local(t *testing.T, m *deit.Model, ins []classify.Input, opts classify.Options) []classify.Result {
	t.Helper()
	c, err := classify.New(m, refEngine(t, m))
	require.NoError(t, err)
	rs, err := c.Classify(context.Background(), ins, opts)
	require.NoError(t, err)
	return rs
}

// collect runs Stream and returns its results.
func collect(t *testing.T, c *Client, ins []classify.Input, opts classify.Options, each func(classify.Result)) ([]classify.Result, error) {
	t.Helper()
	var got []classify.Result
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.Stream(ctx, slices.Values(ins), opts, func(r classify.Result) error {
		got = append(got, r)
		if each != nil {
			each(r)
		}
		return nil
	})
	return got, err
}

// requireSame checks remote results against local ones: the same inputs
// in the same order, the same logits, rankings and embeddings bit for
// bit, and errors for the same inputs.
func requireSame(t *testing.T, want, got []classify.Result) {
	t.Helper()
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		require.Equal(t, i, g.Index)
		require.Equal(t, w.Name, g.Name)
		if w.Err != nil {
			require.Error(t, g.Err, "%s", w.Name)
			require.Contains(t, g.Err.Error(), w.Name)
			continue
		}
		require.NoError(t, g.Err, "%s", w.Name)
		require.Equal(t, w.Logits, g.Logits, "%s", w.Name)
		require.Equal(t, w.Top, g.Top, "%s", w.Name)
		require.Equal(t, w.Embedding, g.Embedding, "%s", w.Name)
		require.Equal(t, w.DistillationEmbedding, g.DistillationEmbedding, "%s", w.Name)
	}
}

// TestStreamMatchesLocal: over REST and gRPC, sending files or pixels
// preprocessed here, a remote run gives what the local run gives, in
// input order, the undecodable image included as an error.
func TestStreamMatchesLocal(t *testing.T) {
	m := fixturemodel.Tiny(t)
	a, b := startServer(t, m), startServer(t, m)
	ins := writeImages(t, 12, 5)
	for _, emb := range []bool{false, true} {
		opts := classify.Options{TopK: 3, Embeddings: emb}
		want := local(t, m, ins, opts)
		for _, kind := range []string{InputImage, InputPixels} {
			for _, urls := range [][]string{{a.rest, b.grpc}, {a.grpc + "/v2/models/tiny"}, {b.rest + "/v2/models/tiny/versions/1"}} {
				c, err := New(context.Background(), urls, Options{Model: "tiny", Input: kind, Labels: m.Config.Labels,
					Preprocessor: m.Preprocessor, InFlight: 3})
				require.NoError(t, err)
				require.Equal(t, kind == InputImage, c.Signature().Encoded)
				got, err := collect(t, c, ins, opts, nil)
				require.NoError(t, err, "%v %s", urls, kind)
				requireSame(t, want, got)
				require.Equal(t, 1, got[0].BatchSize)
				c.Close()
			}
		}
	}
}

// TestStreamEndpointKilled: one of two servers dies mid-run; its requests
// go to the other, and every input has exactly one result, in order,
// equal to the local run's.
func TestStreamEndpointKilled(t *testing.T) {
	m := fixturemodel.Tiny(t)
	ins := writeImages(t, 40, -1)
	want := local(t, m, ins, classify.Options{TopK: 2})
	for _, proto := range []string{"rest", "grpc"} {
		a, b := startServer(t, m), startServer(t, m)
		urls := []string{a.rest, b.rest}
		if proto == "grpc" {
			urls = []string{a.grpc, b.grpc}
		}
		var notes []string
		var mu sync.Mutex
		c, err := New(context.Background(), urls, Options{Model: "tiny", Labels: m.Config.Labels, InFlight: 4,
			Backoff: time.Millisecond, Logf: func(f string, args ...any) {
				mu.Lock()
				notes = append(notes, fmt.Sprintf(f, args...))
				mu.Unlock()
			}})
		require.NoError(t, err)
		got, err := collect(t, c, ins, classify.Options{TopK: 2}, func(r classify.Result) {
			if r.Index == 3 {
				a.kill()
			}
		})
		require.NoError(t, err, proto)
		requireSame(t, want, got)
		mu.Lock()
		require.Contains(t, strings.Join(notes, "\n"), "its requests go to the other servers", proto)
		mu.Unlock()
		c.Close()
	}
}

// fakeTriton is a generic OIP REST endpoint, not vkdeit: FP32 input
// "input__0" [-1, 3, 32, 32], output "output__0" [-1, 10], JSON tensors
// only (no binary extension), answering with the reference engine, and
// refusing every other request with 429 or 503.
type fakeTriton struct {
	eng       engine.Engine
	requests  atomic.Int64
	inFlight  atomic.Int64
	maxFlight atomic.Int64
	failEvery int64 // every failEvery-th infer fails (0: none)
	status    int   // the failure's status
}

func (f *fakeTriton) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v2":
		json.NewEncoder(w).Encode(map[string]any{"name": "triton", "extensions": []string{"classification"}})
	case "/v2/models/net":
		json.NewEncoder(w).Encode(map[string]any{"name": "net", "platform": "onnxruntime_onnx",
			"inputs":  []any{map[string]any{"name": "input__0", "datatype": "FP32", "shape": []int{-1, 3, 32, 32}}},
			"outputs": []any{map[string]any{"name": "output__0", "datatype": "FP32", "shape": []int{-1, 10}}}})
	case "/v2/models/net/ready":
	case "/v2/models/net/infer":
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			m := f.maxFlight.Load()
			if n <= m || f.maxFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		if f.failEvery > 0 && f.requests.Add(1)%f.failEvery == 0 {
			w.WriteHeader(f.status)
			io.WriteString(w, `{"error":"busy"}`)
			return
		}
		var req struct {
			Inputs []struct {
				Name     string    `json:"name"`
				Datatype string    `json:"datatype"`
				Shape    []int64   `json:"shape"`
				Data     []float32 `json:"data"`
			} `json:"inputs"`
			Outputs []struct {
				Name string `json:"name"`
			} `json:"outputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 || req.Inputs[0].Name != "input__0" ||
			!slices.Equal(req.Inputs[0].Shape, []int64{1, 3, 32, 32}) || len(req.Outputs) != 1 || req.Outputs[0].Name != "output__0" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"bad request %v"}`, err)
			return
		}
		out, err := f.eng.Run(r.Context(), req.Inputs[0].Data, 1, 0)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"outputs": []any{map[string]any{"name": "output__0", "datatype": "FP32",
			"shape": []int{1, 10}, "data": out.Logits}}})
	default:
		http.NotFound(w, r)
	}
}

// TestStreamGenericEndpoint: a Triton-like endpoint that takes pixels as
// JSON gets images preprocessed here; its 429s and 503s are retried, and
// no endpoint has more than InFlight requests at once.
func TestStreamGenericEndpoint(t *testing.T) {
	m := fixturemodel.Tiny(t)
	ins := writeImages(t, 16, 7)
	want := local(t, m, ins, classify.Options{TopK: 4})
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		f := &fakeTriton{eng: refEngine(t, m), failEvery: 3, status: status}
		srv := httptest.NewServer(f)
		c, err := New(context.Background(), []string{srv.URL + "/v2/models/net"}, Options{Labels: m.Config.Labels,
			Preprocessor: m.Preprocessor, InFlight: 2, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
		require.NoError(t, err)
		require.Equal(t, Signature{Model: "net", Platform: "onnxruntime_onnx", Input: "input__0", Channels: 3, Size: 32,
			batched: true, Logits: "output__0", NumLabels: 10}, c.Signature())
		got, err := collect(t, c, ins, classify.Options{TopK: 4}, nil)
		require.NoError(t, err)
		requireSame(t, want, got)
		require.Positive(t, f.requests.Load()/3, "some requests failed and were retried")
		require.LessOrEqual(t, f.maxFlight.Load(), int64(2))
		_, err = collect(t, c, ins, classify.Options{Embeddings: true}, nil)
		require.ErrorContains(t, err, `model "net" has no embedding output`)
		c.Close()
		srv.Close()
	}
}

// TestStreamGivesUp: a server that always fails ends Stream after the
// attempts, one that is gone after GiveUp, each with an error that says
// why, and delivers nothing twice.
func TestStreamGivesUp(t *testing.T) {
	m := fixturemodel.Tiny(t)
	ins := writeImages(t, 6, -1)
	f := &fakeTriton{eng: refEngine(t, m), failEvery: 1, status: http.StatusInternalServerError}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(context.Background(), []string{srv.URL + "/v2/models/net"}, Options{Preprocessor: m.Preprocessor,
		InFlight: 1, Attempts: 3, Backoff: time.Millisecond})
	require.NoError(t, err)
	got, err := collect(t, c, ins, classify.Options{}, nil)
	require.ErrorContains(t, err, "000.png: gave up after 3 attempts: server "+srv.URL+"/v2/models/net: infer: 500 Internal Server Error")
	require.Empty(t, got)
	c.Close()

	a := startServer(t, m)
	c, err = New(context.Background(), []string{a.grpc}, Options{Model: "tiny", InFlight: 2, Backoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond, GiveUp: 300 * time.Millisecond})
	require.NoError(t, err)
	got, err = collect(t, c, ins, classify.Options{}, func(r classify.Result) {
		if r.Index == 1 {
			a.kill()
		}
	})
	require.ErrorContains(t, err, "no server has taken requests for 300ms")
	require.GreaterOrEqual(t, len(got), 2, "the results up to the kill stand")
	require.Less(t, len(got), len(ins))
	for i, r := range got {
		require.Equal(t, i, r.Index)
	}
	c.Close()
}

// TestNewErrors: what New refuses, before any image is sent.
func TestNewErrors(t *testing.T) {
	m := fixturemodel.Tiny(t)
	a := startServer(t, m)
	dead := "http://" + deadAddr(t)
	for _, tt := range []struct {
		name string
		urls []string
		opts Options
		err  string
	}{
		{"no model name", []string{a.rest}, Options{}, "remote: server " + a.rest + ": name the model: " + a.rest + "/v2/models/NAME"},
		{"unknown model", []string{a.rest}, Options{Model: "nope"}, "404 Not Found: unknown model"},
		{"none answers", []string{dead}, Options{Model: "tiny"}, "remote: no server answered: " + dead},
		{"twice", []string{a.rest, a.rest}, Options{Model: "tiny"}, "given twice"},
		{"labels", []string{a.rest}, Options{Model: "tiny", Labels: []string{"a", "b"}}, "the model's labels name 2 classes, but the servers' logits has 10"},
		{"preprocessing", []string{a.grpc}, Options{Model: "tiny", Input: InputPixels}, "the servers take 32×32 pixels, but the preprocessing makes 224×224"},
	} {
		c, err := New(context.Background(), tt.urls, tt.opts)
		require.ErrorContains(t, err, tt.err, tt.name)
		require.Nil(t, c)
	}
	// One endpoint down at the start is noted, not fatal.
	var notes []string
	c, err := New(context.Background(), []string{dead, a.rest}, Options{Model: "tiny", Logf: func(f string, args ...any) {
		notes = append(notes, fmt.Sprintf(f, args...))
	}})
	require.NoError(t, err)
	require.Len(t, notes, 1)
	require.Contains(t, notes[0], "server "+dead+": ")
	c.Close()
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestDefaultLabels: without labels, 1000 logits get the ImageNet-1k
// names (as checkpoints without config.json do), other widths none.
func TestDefaultLabels(t *testing.T) {
	for _, n := range []int{1000, 10} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/models/m" {
				json.NewEncoder(w).Encode(map[string]any{"name": "m",
					"inputs":  []any{map[string]any{"name": "image", "datatype": "BYTES", "shape": []int{-1}}},
					"outputs": []any{map[string]any{"name": "logits", "datatype": "FP32", "shape": []int{-1, n}}}})
			}
		}))
		c, err := New(context.Background(), []string{srv.URL + "/v2/models/m"}, Options{})
		require.NoError(t, err)
		if n == 1000 {
			require.Equal(t, deit.ImageNetLabels(), c.opts.Labels)
		} else {
			require.Nil(t, c.opts.Labels)
		}
		c.Close()
		srv.Close()
	}
}
