package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/server/inference"
)

func TestModelConfig(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", MaxDelay: 2 * time.Millisecond})

	for _, path := range []string{"/v2/models/tiny/config", "/v2/models/tiny/versions/1/config"} {
		status, _, body := httpDo(t, "GET", ts.url+path, nil, nil)
		require.Equal(t, 200, status, "%s", body)
		require.JSONEq(t, `{"name":"tiny","platform":"vkdeit","backend":"vkdeit","max_batch_size":4,
			"input":[{"name":"pixel_values","data_type":"TYPE_FP32","format":"FORMAT_NCHW","dims":[3,32,32],"optional":true},
			         {"name":"image","data_type":"TYPE_STRING","dims":[1],"optional":true}],
			"output":[{"name":"logits","data_type":"TYPE_FP32","dims":[10]},{"name":"probabilities","data_type":"TYPE_FP32","dims":[10]},
			          {"name":"embedding","data_type":"TYPE_FP32","dims":[64]},{"name":"distillation_embedding","data_type":"TYPE_FP32","dims":[64]},
			          {"name":"attention","data_type":"TYPE_FP32","dims":[2,4,4]}],
			"dynamic_batching":{"preferred_batch_size":[],"max_queue_delay_microseconds":2000}}`, string(body))
	}
	status, _, body := httpDo(t, "GET", ts.url+"/v2/models/other/config", nil, nil)
	require.Equal(t, 404, status)
	require.Contains(t, errorBody(t, body), `unknown model "other"`)

	resp, err := ts.grpc.ModelConfig(t.Context(), &inference.ModelConfigRequest{Name: "tiny"})
	require.NoError(t, err)
	c := resp.GetConfig()
	require.Equal(t, "tiny", c.GetName())
	require.Equal(t, int32(4), c.GetMaxBatchSize())
	require.Equal(t, uint64(2000), c.GetDynamicBatching().GetMaxQueueDelayMicroseconds())
	require.Len(t, c.GetInput(), 2)
	require.Equal(t, inference.DataType_TYPE_FP32, c.GetInput()[0].GetDataType())
	require.Equal(t, inference.ModelInput_FORMAT_NCHW, c.GetInput()[0].GetFormat())
	require.Equal(t, []int64{3, 32, 32}, c.GetInput()[0].GetDims())
	require.Equal(t, inference.DataType_TYPE_STRING, c.GetInput()[1].GetDataType())
	require.Len(t, c.GetOutput(), 5)
	require.Equal(t, []int64{2, 4, 4}, c.GetOutput()[4].GetDims(), "attention: [S, G, G] per image")
	require.Equal(t, []int64{64}, c.GetOutput()[3].GetDims())
	_, err = ts.grpc.ModelConfig(t.Context(), &inference.ModelConfigRequest{Name: "tiny", Version: "2"})
	requireCode(t, err, codes.NotFound, `no version "2"`)
}

// wantClasses is Triton's classification of rows [n, w]: each row's k
// highest values as "value:index[:label]".
func wantClasses(t testing.TB, rows []float32, n, k int, labels []string) []string {
	t.Helper()
	w := len(rows) / n
	var out []string
	for i := range n {
		top, err := classify.TopK(rows[i*w:(i+1)*w], k, labels)
		require.NoError(t, err)
		for _, p := range top {
			e := fmt.Sprintf("%f:%d", p.Logit, p.Index)
			if labels != nil {
				e += ":" + p.Label
			}
			out = append(out, e)
		}
	}
	return out
}

func TestClassificationExtension(t *testing.T) {
	m := tinyModel(t)
	eng := refEngine(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	const n = 3
	px := deit.RandomPixels(m.Config, n, 5)
	logits, emb := forwardEach(t, eng, px, n)
	probs := make([]float32, len(logits))
	L, D := m.Config.NumLabels, m.Config.Hidden
	for i := range n {
		classify.Softmax(probs[i*L:(i+1)*L], logits[i*L:(i+1)*L])
	}
	cls := make([]float32, 0, n*D) // the [CLS] embedding rows
	for i := range n {
		cls = append(cls, emb[2*i*D:(2*i+1)*D]...)
	}
	wantLogits := wantClasses(t, logits, n, 3, m.Config.Labels)
	wantProbs := wantClasses(t, probs, n, L, m.Config.Labels) // K over the width is clamped
	wantEmb := wantClasses(t, cls, n, 2, nil)
	require.Len(t, wantLogits, n*3)

	input := map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{n, 3, 32, 32}, "data": px}
	outputs := []any{
		map[string]any{"name": "logits", "parameters": map[string]any{"classification": 3}},
		map[string]any{"name": "probabilities", "parameters": map[string]any{"classification": 50}},
		map[string]any{"name": "embedding", "parameters": map[string]any{"classification": 2}},
		map[string]any{"name": "distillation_embedding"},
	}
	t.Run("REST JSON", func(t *testing.T) {
		status, _, body := postJSON(t, ts.url+"/v2/models/tiny/infer", map[string]any{"inputs": []any{input}, "outputs": outputs})
		require.Equal(t, 200, status, "%s", body)
		var resp struct {
			Outputs []struct {
				Name     string          `json:"name"`
				Datatype string          `json:"datatype"`
				Shape    []int64         `json:"shape"`
				Data     json.RawMessage `json:"data"`
			} `json:"outputs"`
		}
		require.NoError(t, json.Unmarshal(body, &resp))
		require.Len(t, resp.Outputs, 4)
		for i, want := range [][]string{wantLogits, wantProbs, wantEmb} {
			o := resp.Outputs[i]
			require.Equal(t, "BYTES", o.Datatype, o.Name)
			require.Equal(t, []int64{n, int64(len(want) / n)}, o.Shape, o.Name)
			var got []string
			require.NoError(t, json.Unmarshal(o.Data, &got))
			require.Equal(t, want, got, o.Name)
		}
		require.Equal(t, "FP32", resp.Outputs[3].Datatype)
	})
	t.Run("REST binary", func(t *testing.T) {
		js, err := json.Marshal(map[string]any{"inputs": []any{input}, "outputs": outputs[:1], "parameters": map[string]any{"binary_data_output": true}})
		require.NoError(t, err)
		status, h, body := httpDo(t, "POST", ts.url+"/v2/models/tiny/infer", nil, js)
		require.Equal(t, 200, status, "%s", body)
		jl, err := strconv.Atoi(h.Get(headerJSONLength))
		require.NoError(t, err)
		var hdr restResponse
		require.NoError(t, json.Unmarshal(body[:jl], &hdr))
		require.Equal(t, int64(len(body)-jl), hdr.Outputs[0].Parameters["binary_data_size"])
		got, err := splitBytes("logits", body[jl:], n*3)
		require.NoError(t, err)
		require.Equal(t, wantLogits, toStrings(got))
	})
	grpcReq := func(raw bool) *inference.ModelInferRequest {
		r := &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*inference.ModelInferRequest_InferInputTensor{{Name: "pixel_values", Datatype: "FP32", Shape: []int64{n, 3, 32, 32}}}}
		if raw {
			r.RawInputContents = [][]byte{appendFP32(nil, px)}
		} else {
			r.Inputs[0].Contents = &inference.InferTensorContents{Fp32Contents: px}
		}
		r.Outputs = []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "logits",
			Parameters: map[string]*inference.InferParameter{"classification": {ParameterChoice: &inference.InferParameter_Int64Param{Int64Param: 3}}}}}
		return r
	}
	t.Run("gRPC contents", func(t *testing.T) {
		resp, err := ts.grpc.ModelInfer(t.Context(), grpcReq(false))
		require.NoError(t, err)
		o := resp.GetOutputs()[0]
		require.Equal(t, "BYTES", o.GetDatatype())
		require.Equal(t, []int64{n, 3}, o.GetShape())
		require.Equal(t, wantLogits, toStrings(o.GetContents().GetBytesContents()))
	})
	t.Run("gRPC raw", func(t *testing.T) {
		resp, err := ts.grpc.ModelInfer(t.Context(), grpcReq(true))
		require.NoError(t, err)
		got, err := splitBytes("logits", resp.GetRawOutputContents()[0], n*3)
		require.NoError(t, err)
		require.Equal(t, wantLogits, toStrings(got))
	})
	t.Run("errors", func(t *testing.T) {
		for _, k := range []any{0, -2, "three", 1.5} {
			status, _, body := postJSON(t, ts.url+"/v2/models/tiny/infer", map[string]any{"inputs": []any{input},
				"outputs": []any{map[string]any{"name": "logits", "parameters": map[string]any{"classification": k}}}})
			require.Equal(t, 400, status, "%v: %s", k, body)
			require.Contains(t, errorBody(t, body), "classification")
		}
		r := grpcReq(false)
		r.Outputs[0].Parameters["classification"] = &inference.InferParameter{ParameterChoice: &inference.InferParameter_StringParam{StringParam: "3"}}
		_, err := ts.grpc.ModelInfer(t.Context(), r)
		requireCode(t, err, codes.InvalidArgument, "classification must be an int64_param")
	})
}

// gradientPNG is a small synthetic PNG image: another image to classify.
func gradientPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{uint8(6 * x), uint8(8 * y), 90, 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func toStrings(b [][]byte) []string {
	out := make([]string, len(b))
	for i, e := range b {
		out[i] = string(e)
	}
	return out
}

func TestClassifySeveralFiles(t *testing.T) {
	m := tinyModel(t)
	eng := refEngine(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny", MaxQueue: 4})
	jpg := readFile(t, "../samples/grace_hopper.jpg")
	pic := gradientPNG(t)
	body := func(files ...[2]string) (http.Header, []byte) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, f := range files {
			fw, err := mw.CreateFormFile("files", f[0])
			require.NoError(t, err)
			_, err = fw.Write([]byte(f[1]))
			require.NoError(t, err)
		}
		require.NoError(t, mw.Close())
		return http.Header{"Content-Type": {mw.FormDataContentType()}}, buf.Bytes()
	}
	h, b := body([2]string{"hopper.jpg", string(jpg)}, [2]string{"gradient.png", string(pic)})
	status, _, resp := httpDo(t, "POST", ts.url+"/classify?top_k=2", h, b)
	require.Equal(t, 200, status, "%s", resp)
	var got []struct {
		Filename    string `json:"filename"`
		Predictions []struct {
			Label string  `json:"label"`
			Score float64 `json:"score"`
		} `json:"predictions"`
	}
	require.NoError(t, json.Unmarshal(resp, &got))
	require.Len(t, got, 2, "an answer for each file, not the first alone")
	for i, f := range [][]byte{jpg, pic} {
		want, err := classify.TopK(imageLogits(t, m, eng, f), 2, m.Config.Labels)
		require.NoError(t, err)
		require.Len(t, got[i].Predictions, 2)
		for j := range want {
			require.Equal(t, want[j].Label, got[i].Predictions[j].Label)
			require.InDelta(t, want[j].Score, got[i].Predictions[j].Score, 1e-12)
		}
	}
	require.Equal(t, "hopper.jpg", got[0].Filename)
	require.Equal(t, "gradient.png", got[1].Filename)

	h, b = body([2]string{"ok.jpg", string(jpg)}, [2]string{"notes.txt", "plain text"})
	status, _, resp = httpDo(t, "POST", ts.url+"/classify", h, b)
	require.Equal(t, 400, status)
	require.Contains(t, errorBody(t, resp), `file part 1 ("notes.txt")`)

	five := make([][2]string, 5)
	for i := range five {
		five[i] = [2]string{fmt.Sprintf("%d.jpg", i), string(jpg)}
	}
	h, b = body(five...)
	status, _, resp = httpDo(t, "POST", ts.url+"/classify", h, b)
	require.Equal(t, 413, status)
	require.Contains(t, errorBody(t, resp), "more than 4 file parts")
}

func TestReadyMeansWarm(t *testing.T) {
	m := tinyModel(t)
	eng := &testEngine{Engine: refEngine(t, m, 4), warm: true, gate: make(chan struct{}), entered: make(chan int, 8)}
	s, err := New(m, eng, Options{Name: "tiny", MaxBatch: 3})
	require.NoError(t, err)
	ts := serveOn(t, s)

	for b := 1; b <= 3; b++ {
		require.Equal(t, b, <-eng.entered, "warm-up runs batch size %d", b)
		require.False(t, s.Ready(), "not ready while warming up")
		status, _, _ := httpDo(t, "GET", ts.url+"/v2/health/ready", nil, nil)
		require.Equal(t, 503, status)
		status, _, _ = httpDo(t, "GET", ts.url+"/v2/health/live", nil, nil)
		require.Equal(t, 200, status, "live while warming up")
		if b == 1 {
			status, _, body := postJSON(t, ts.url+"/v2/models/tiny/infer", inferBody(deit.RandomPixels(m.Config, 1, 3), 1))
			require.Equal(t, 503, status, "inference waits for the model to be warm")
			require.Contains(t, errorBody(t, body), `model "tiny" is loading (warming up)`)
		}
		eng.gate <- struct{}{}
	}
	require.Eventually(t, s.Ready, 5*time.Second, time.Millisecond)
	require.Equal(t, []int{1, 2, 3}, eng.calls(), "every batch size the batcher forms, once")
	close(eng.gate)
	require.Equal(t, 200, restJSONClient(t.Context(), ts, deit.RandomPixels(m.Config, 1, 3), 1).status)
}

// serveOn serves s on loopback ports (without waiting for readiness),
// stopping it when the test ends.
func serveOn(t testing.TB, s *Server) *testServer {
	t.Helper()
	ts := &testServer{Server: s}
	hl, gl := listen(t), listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	ts.url, ts.cancel, ts.done = "http://"+hl.Addr().String(), cancel, make(chan error, 1)
	go func() { ts.done <- s.Serve(ctx, hl, gl) }()
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	ts.conn, ts.grpc = conn, inference.NewGRPCInferenceServiceClient(conn)
	t.Cleanup(func() {
		ts.conn.Close()
		ts.stop(t)
	})
	return ts
}

// listen listens on a free loopback port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}

// memRepo is a Repository of tiny models on reference engines; a name in
// broken fails to load.
type memRepo struct {
	t      testing.TB
	names  []string
	broken map[string]bool
	mu     sync.Mutex
	loads  map[string]int
	closed map[string]int
}

func (r *memRepo) Models() ([]string, error) { return r.names, nil }

func (r *memRepo) Load(ctx context.Context, name string, maxBatch int) (*deit.Model, engine.Engine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken[name] {
		return nil, nil, errors.New("config.json: hidden_size is missing")
	}
	m := tinyModel(r.t)
	e, err := engine.New(m, engine.Options{Device: "ref", MaxBatch: maxBatch, Threads: 1})
	if err != nil {
		return nil, nil, err
	}
	r.loads[name]++
	return m, &closeCounter{Engine: e, r: r, name: name}, nil
}

// closeCounter counts an engine's Close.
type closeCounter struct {
	engine.Engine
	r    *memRepo
	name string
}

func (c *closeCounter) Close() error {
	c.r.mu.Lock()
	c.r.closed[c.name]++
	c.r.mu.Unlock()
	return c.Engine.Close()
}

func TestModelRepository(t *testing.T) {
	repo := &memRepo{t: t, names: []string{"alpha", "beta", "broken"}, broken: map[string]bool{"broken": true},
		loads: map[string]int{}, closed: map[string]int{}}
	// A broken model fails the start: loads go one by one, as listed.
	s, err := New(nil, nil, Options{Repository: repo, MaxBatch: 2})
	require.NoError(t, err)
	hl, gl := listen(t), listen(t)
	err = s.Serve(t.Context(), hl, gl)
	require.ErrorContains(t, err, "hidden_size is missing")
	require.Equal(t, map[string]int{"alpha": 1, "beta": 1}, repo.loads)
	require.Equal(t, map[string]int{"alpha": 1, "beta": 1}, repo.closed, "the server closes the engines it loaded")

	repo.names = []string{"alpha", "beta"}
	ts := startServer(t, nil, nil, Options{Repository: repo, MaxBatch: 2})
	px := deit.RandomPixels(tinyModel(t).Config, 3, 9)
	for _, name := range []string{"alpha", "beta"} {
		status, _, body := postJSON(t, ts.url+"/v2/models/"+name+"/infer", inferBody(px, 3))
		require.Equal(t, 200, status, "%s: %s", name, body)
	}
	require.Equal(t, 3.0, counterValue(t, ts, `vkdeit_inference_images_total{model="alpha"}`), "per-model metrics")
	require.Equal(t, 3.0, counterValue(t, ts, `vkdeit_inference_images_total{model="beta"}`))
	require.Equal(t, 2.0, counterValue(t, ts, `vkdeit_inference_batches_total{model="beta"}`), "per-model batches of MaxBatch 2")
	require.Equal(t, 1.0, counterValue(t, ts, `vkdeit_inference_requests_total{code="200",model="alpha",protocol="rest"}`))

	index := func() string {
		status, _, body := httpDo(t, "POST", ts.url+"/v2/repository/index", nil, nil)
		require.Equal(t, 200, status, "%s", body)
		return string(body)
	}
	require.JSONEq(t, `[{"name":"alpha","version":"1","state":"READY"},{"name":"beta","version":"1","state":"READY"}]`, index())

	status, _, body := httpDo(t, "POST", ts.url+"/v2/repository/models/alpha/unload", nil, nil)
	require.Equal(t, 200, status, "%s", body)
	require.Equal(t, 1, repo.closed["alpha"]-1, "unload closes the engine")
	require.JSONEq(t, `[{"name":"alpha","state":""},{"name":"beta","version":"1","state":"READY"}]`, index())
	status, _, body = httpDo(t, "GET", ts.url+"/v2/models/alpha", nil, nil)
	require.Equal(t, 404, status)
	require.Contains(t, errorBody(t, body), `this server serves "beta"`)
	require.True(t, ts.Ready(), "the models left are ready")

	_, err = ts.grpc.RepositoryModelLoad(t.Context(), &inference.RepositoryModelLoadRequest{ModelName: "alpha"})
	require.NoError(t, err)
	idx, err := ts.grpc.RepositoryIndex(t.Context(), &inference.RepositoryIndexRequest{Ready: true})
	require.NoError(t, err)
	require.Len(t, idx.GetModels(), 2)
	require.Equal(t, "READY", idx.GetModels()[0].GetState())
	mr, err := ts.grpc.ModelReady(t.Context(), &inference.ModelReadyRequest{Name: "alpha"})
	require.NoError(t, err)
	require.True(t, mr.GetReady())

	// Reloading replaces the model; the old engine is closed once drained.
	status, _, body = httpDo(t, "POST", ts.url+"/v2/repository/models/beta/load", nil, []byte(`{}`))
	require.Equal(t, 200, status, "%s", body)
	require.Eventually(t, func() bool { repo.mu.Lock(); defer repo.mu.Unlock(); return repo.closed["beta"] == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 2, repo.loads["beta"]-1)

	status, _, body = httpDo(t, "POST", ts.url+"/v2/repository/models/gamma/load", nil, nil)
	require.Equal(t, 404, status)
	require.Contains(t, errorBody(t, body), `no model "gamma"; it has "alpha", "beta"`)
	_, err = ts.grpc.RepositoryModelUnload(t.Context(), &inference.RepositoryModelUnloadRequest{ModelName: "gamma"})
	requireCode(t, err, codes.NotFound, `model "gamma" is not loaded`)
	status, _, body = httpDo(t, "POST", ts.url+"/v2/repository/models/beta/load", nil, []byte(`{"parameters":{"config":"{}"}}`))
	require.Equal(t, 400, status, "%s", body)
	status, _, _ = httpDo(t, "GET", ts.url+"/v2/repository/index", nil, nil)
	require.Equal(t, 405, status)

	// /classify needs ?model= when the server has several.
	jpg := readFile(t, "../samples/grace_hopper.jpg")
	status, _, body = httpDo(t, "POST", ts.url+"/classify", nil, jpg)
	require.Equal(t, 404, status)
	require.Contains(t, errorBody(t, body), `this server serves "alpha", "beta"`)
	status, _, body = httpDo(t, "POST", ts.url+"/classify?model=beta", nil, jpg)
	require.Equal(t, 200, status, "%s", body)

	// A failed load is in the index with its reason.
	repo.mu.Lock()
	repo.names = append(repo.names, "broken")
	repo.mu.Unlock()
	status, _, body = httpDo(t, "POST", ts.url+"/v2/repository/models/broken/load", nil, nil)
	require.Equal(t, 500, status)
	require.Contains(t, errorBody(t, body), "hidden_size is missing")
	require.Contains(t, index(), `{"name":"broken","state":"UNAVAILABLE","reason":"config.json: hidden_size is missing"}`)
}

// inferBody is a JSON inference request of n images.
func inferBody(px []float32, n int) map[string]any {
	return map[string]any{"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{n, 3, 32, 32}, "data": px}}}
}
