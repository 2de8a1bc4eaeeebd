package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/classify"
	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

func TestRESTEndpoints(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", ServerVersion: "v9"})
	tests := []struct {
		method, path string
		status       int
		want         string // a JSON object the body must equal, or "" to skip
		errContains  string // for errors: part of the message
	}{
		{"GET", "/v2/health/live", 200, `{"live":true}`, ""},
		{"GET", "/v2/health/ready", 200, `{"ready":true}`, ""},
		{"GET", "/v2", 200, `{"name":"vkdeit","version":"v9","extensions":["binary_tensor_data","classification","model_configuration","model_repository"]}`, ""},
		{"GET", "/v2/", 200, `{"name":"vkdeit","version":"v9","extensions":["binary_tensor_data","classification","model_configuration","model_repository"]}`, ""},
		{"GET", "/v2/models/tiny", 200, `{"name":"tiny","versions":["1"],"platform":"vkdeit",
			"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[-1,3,32,32]},{"name":"image","datatype":"BYTES","shape":[-1]}],
			"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,10]},{"name":"probabilities","datatype":"FP32","shape":[-1,10]},
			{"name":"embedding","datatype":"FP32","shape":[-1,64]},{"name":"distillation_embedding","datatype":"FP32","shape":[-1,64]},{"name":"attention","datatype":"FP32","shape":[-1,2,4,4]}]}`, ""},
		{"GET", "/v2/models/tiny/versions/1", 200, "", ""},
		{"GET", "/v2/models/tiny/ready", 200, `{"name":"tiny","ready":true}`, ""},
		{"GET", "/v2/models/tiny/versions/1/ready", 200, `{"name":"tiny","ready":true}`, ""},
		{"GET", "/v2/models/other", 404, "", `unknown model "other"`},
		{"GET", "/v2/models/other/ready", 404, "", `unknown model "other"`},
		{"GET", "/v2/models/tiny/versions/2", 404, "", `no version "2"`},
		{"GET", "/v2/models/tiny/versions/2/ready", 404, "", `no version "2"`},
		{"POST", "/v2/models/other/infer", 404, "", `unknown model "other"`},
		{"POST", "/v2/models/tiny/versions/7/infer", 404, "", `no version "7"`},
		{"GET", "/v2/models/tiny/bogus", 404, "", "no endpoint"},
		{"GET", "/v2/models/tiny/versions", 404, "", "no endpoint"},
		{"GET", "/v2/models/", 404, "", "unknown model"},
		{"GET", "/nope", 404, "", "no endpoint /nope"},
		{"GET", "/v2/models/tiny/infer", 405, "", "method not allowed"},
		{"POST", "/v2/health/live", 405, "", "method not allowed"},
		{"DELETE", "/v2/models/tiny", 405, "", "method not allowed"},
		{"GET", "/classify", 405, "", "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, h, body := httpDo(t, tt.method, ts.url+tt.path, nil, nil)
			require.Equal(t, tt.status, status, "body %s", body)
			require.Equal(t, "application/json", h.Get("Content-Type"))
			if tt.want != "" {
				require.JSONEq(t, tt.want, string(body))
			}
			if tt.errContains != "" {
				require.Contains(t, errorBody(t, body), tt.errContains)
			}
			if status == 405 {
				require.NotEmpty(t, h.Get("Allow"))
			}
		})
	}
	status, _, body := httpDo(t, "HEAD", ts.url+"/v2/health/ready", nil, nil)
	require.Equal(t, 200, status)
	require.Empty(t, body)
}

// bits is a float32 slice's bit patterns, for bit-for-bit comparisons.
func bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, f := range v {
		out[i] = math.Float32bits(f)
	}
	return out
}

// nest shapes flat data as [n][c][h][w] nested arrays.
func nest(px []float32, n, c, hw int) [][][][]float32 {
	out := make([][][][]float32, n)
	k := 0
	for i := range out {
		out[i] = make([][][]float32, c)
		for j := range out[i] {
			out[i][j] = make([][]float32, hw)
			for y := range out[i][j] {
				out[i][j][y] = px[k : k+hw]
				k += hw
			}
		}
	}
	return out
}

// binaryBody is a JSON header followed by binary tensors, and its headers.
func binaryBody(t testing.TB, header any, blobs ...[]byte) (http.Header, []byte) {
	t.Helper()
	js, err := json.Marshal(header)
	require.NoError(t, err)
	body := append([]byte(nil), js...)
	for _, b := range blobs {
		body = append(body, b...)
	}
	return http.Header{"Content-Type": {"application/octet-stream"}, headerJSONLength: {strconv.Itoa(len(js))}}, body
}

// splitBinaryResponse splits a binary-extension response into its JSON
// header (decoded) and the bytes after it.
func splitBinaryResponse(t testing.TB, h http.Header, body []byte) (restResponse, []byte) {
	t.Helper()
	n, err := strconv.Atoi(h.Get(headerJSONLength))
	require.NoError(t, err, "no %s header", headerJSONLength)
	var r restResponse
	require.NoError(t, json.Unmarshal(body[:n], &r))
	return r, body[n:]
}

// f32bytes encodes float32s little-endian.
func f32bytes(v []float32) []byte { return appendFP32(nil, v) }

// bytesElems encodes BYTES elements with their 4-byte length prefixes.
func bytesElems(elems ...[]byte) []byte {
	var out []byte
	for _, e := range elems {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e)))
		out = append(out, e...)
	}
	return out
}

// probsOf is the softmax classify.TopK computes, per image, in index order.
func probsOf(t testing.TB, logits []float32, L int) []float32 {
	t.Helper()
	out := make([]float32, len(logits))
	for i := 0; i < len(logits); i += L {
		top, err := classify.TopK(logits[i:i+L], L, nil)
		require.NoError(t, err)
		for _, p := range top {
			out[i+p.Index] = float32(p.Score)
		}
	}
	return out
}

// embRows picks token tok's rows from the embeddings tap.
func embRows(emb []float32, n, H, D, tok int) []float32 {
	var out []float32
	for i := range n {
		out = append(out, emb[(i*H+tok)*D:(i*H+tok+1)*D]...)
	}
	return out
}

func TestRESTInferExact(t *testing.T) {
	m := tinyModel(t)
	eng := refEngine(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny"})
	const n = 3 // over max batch 4 with the splits below; also exercises a non-power of two
	px := deit.RandomPixels(m.Config, n, 1)
	wantLogits, wantEmb := forwardEach(t, eng, px, n)
	c := m.Config
	L, D, H := c.NumLabels, c.Hidden, c.HeadTokens()
	url := ts.url + "/v2/models/tiny/infer"
	shape := []int{n, 3, 32, 32}

	t.Run("json flat", func(t *testing.T) {
		status, h, body := postJSON(t, url, map[string]any{
			"id":     "req-7",
			"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": shape, "data": px}},
		})
		require.Equal(t, 200, status, "%s", body)
		require.Equal(t, "application/json", h.Get("Content-Type"))
		var r restResponse
		require.NoError(t, json.Unmarshal(body, &r))
		require.Equal(t, "tiny", r.ModelName)
		require.Equal(t, "1", r.ModelVersion)
		require.Equal(t, "req-7", r.ID)
		require.Len(t, r.Outputs, 1)
		require.Equal(t, "logits", r.Outputs[0].Name)
		require.Equal(t, "FP32", r.Outputs[0].Datatype)
		require.Equal(t, []int64{n, int64(L)}, r.Outputs[0].Shape)
		require.Equal(t, bits(wantLogits), bits(r.Outputs[0].Data))
	})
	t.Run("json nested, all outputs", func(t *testing.T) {
		status, _, body := postJSON(t, url, map[string]any{
			"inputs":  []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": shape, "data": nest(px, n, 3, 32)}},
			"outputs": []any{map[string]any{"name": "distillation_embedding"}, map[string]any{"name": "probabilities"}, map[string]any{"name": "embedding"}, map[string]any{"name": "logits"}},
		})
		require.Equal(t, 200, status, "%s", body)
		var r restResponse
		require.NoError(t, json.Unmarshal(body, &r))
		require.Len(t, r.Outputs, 4)
		require.Equal(t, "distillation_embedding", r.Outputs[0].Name)
		require.Equal(t, []int64{n, int64(D)}, r.Outputs[0].Shape)
		require.Equal(t, bits(embRows(wantEmb, n, H, D, 1)), bits(r.Outputs[0].Data))
		require.Equal(t, "probabilities", r.Outputs[1].Name)
		require.Equal(t, bits(probsOf(t, wantLogits, L)), bits(r.Outputs[1].Data))
		require.Equal(t, "embedding", r.Outputs[2].Name)
		require.Equal(t, bits(embRows(wantEmb, n, H, D, 0)), bits(r.Outputs[2].Data))
		require.Equal(t, bits(wantLogits), bits(r.Outputs[3].Data))
	})
	t.Run("binary in, binary and json out", func(t *testing.T) {
		h, body := binaryBody(t, map[string]any{
			"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": shape,
				"parameters": map[string]any{"binary_data_size": 4 * len(px)}}},
			"outputs": []any{
				map[string]any{"name": "logits", "parameters": map[string]any{"binary_data": true}},
				map[string]any{"name": "embedding"},
				map[string]any{"name": "probabilities", "parameters": map[string]any{"binary_data": true}},
			},
		}, f32bytes(px))
		status, rh, rbody := httpDo(t, "POST", url, h, body)
		require.Equal(t, 200, status, "%s", rbody)
		require.Equal(t, "application/octet-stream", rh.Get("Content-Type"))
		r, bin := splitBinaryResponse(t, rh, rbody)
		require.Len(t, r.Outputs, 3)
		require.Equal(t, map[string]int64{"binary_data_size": int64(4 * n * L)}, r.Outputs[0].Parameters)
		require.Nil(t, r.Outputs[0].Data)
		require.Equal(t, bits(embRows(wantEmb, n, H, D, 0)), bits(r.Outputs[1].Data))
		require.Equal(t, map[string]int64{"binary_data_size": int64(4 * n * L)}, r.Outputs[2].Parameters)
		require.Len(t, bin, 2*4*n*L)
		require.Equal(t, f32bytes(wantLogits), bin[:4*n*L])
		require.Equal(t, f32bytes(probsOf(t, wantLogits, L)), bin[4*n*L:])
	})
	t.Run("binary_data_output", func(t *testing.T) {
		h, body := binaryBody(t, map[string]any{
			"parameters": map[string]any{"binary_data_output": true},
			"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": shape,
				"parameters": map[string]any{"binary_data_size": 4 * len(px)}}},
		}, f32bytes(px))
		status, rh, rbody := httpDo(t, "POST", url, h, body)
		require.Equal(t, 200, status, "%s", rbody)
		r, bin := splitBinaryResponse(t, rh, rbody)
		require.Len(t, r.Outputs, 1)
		require.Equal(t, f32bytes(wantLogits), bin)
	})
	t.Run("versioned path", func(t *testing.T) {
		status, _, body := postJSON(t, ts.url+"/v2/models/tiny/versions/1/infer", map[string]any{
			"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{1, 3, 32, 32}, "data": px[:3*32*32]}},
		})
		require.Equal(t, 200, status, "%s", body)
		var r restResponse
		require.NoError(t, json.Unmarshal(body, &r))
		require.Equal(t, bits(wantLogits[:L]), bits(r.Outputs[0].Data))
	})
}

// imageLogits is what `vkdeit classify` computes for an image file:
// Model.Prepare, then the engine.
func imageLogits(t testing.TB, m *deit.Model, e engine.Engine, files ...[]byte) []float32 {
	t.Helper()
	var out []float32
	for _, f := range files {
		px, err := classify.Prepare(context.Background(), m, classify.Input{Data: f}, imageio.DecodeOptions{})
		require.NoError(t, err)
		l, err := e.Forward(t.Context(), px, 1)
		require.NoError(t, err)
		out = append(out, l...)
	}
	return out
}

func TestRESTImageInput(t *testing.T) {
	m := tinyModel(t)
	eng := refEngine(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny", Workers: 2})
	jpg, png := readFile(t, "../samples/grace_hopper.jpg"), readFile(t, "../testdata/grace_hopper_96x112.png")
	want := imageLogits(t, m, eng, jpg, png)
	url := ts.url + "/v2/models/tiny/infer"

	t.Run("json base64", func(t *testing.T) {
		status, _, body := postJSON(t, url, map[string]any{"inputs": []any{map[string]any{
			"name": "image", "datatype": "BYTES", "shape": []int{2},
			"data": []string{base64.StdEncoding.EncodeToString(jpg), base64.StdEncoding.EncodeToString(png)}}}})
		require.Equal(t, 200, status, "%s", body)
		var r restResponse
		require.NoError(t, json.Unmarshal(body, &r))
		require.Equal(t, bits(want), bits(r.Outputs[0].Data))
	})
	t.Run("binary BYTES", func(t *testing.T) {
		elems := bytesElems(jpg, png)
		h, body := binaryBody(t, map[string]any{"inputs": []any{map[string]any{
			"name": "image", "datatype": "BYTES", "shape": []int{2},
			"parameters": map[string]any{"binary_data_size": len(elems)}}}}, elems)
		status, _, rbody := httpDo(t, "POST", url, h, body)
		require.Equal(t, 200, status, "%s", rbody)
		var r restResponse
		require.NoError(t, json.Unmarshal(rbody, &r))
		require.Equal(t, bits(want), bits(r.Outputs[0].Data))
	})
	t.Run("raw binary request", func(t *testing.T) {
		status, _, body := httpDo(t, "POST", url, http.Header{headerJSONLength: {"0"}, "Content-Type": {"image/jpeg"}}, jpg)
		require.Equal(t, 200, status, "%s", body)
		var r restResponse
		require.NoError(t, json.Unmarshal(body, &r))
		require.Equal(t, []int64{1, 10}, r.Outputs[0].Shape)
		require.Equal(t, bits(want[:10]), bits(r.Outputs[0].Data))
	})
}

func TestRESTInferErrors(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", MaxQueue: 8, MaxRequestBytes: 1 << 20})
	url := ts.url + "/v2/models/tiny/infer"
	one := deit.RandomPixels(m.Config, 1, 3)
	pix := func(shape []int, data any) map[string]any {
		return map[string]any{"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": shape, "data": data}}}
	}
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return b
	}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	withOutputs := func(outs ...any) []byte {
		r := pix([]int{1, 3, 32, 32}, one)
		r["outputs"] = outs
		return js(r)
	}
	binHeader := func(extra int, size int) (http.Header, []byte) {
		return binaryBody(t, map[string]any{"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32",
			"shape": []int{1, 3, 32, 32}, "parameters": map[string]any{"binary_data_size": size}}}},
			append(f32bytes(one), make([]byte, extra)...))
	}
	hExtra, bExtra := binHeader(4, 4*len(one))
	hShort, bShort := binHeader(0, 4*len(one)-4)
	hOdd, bOdd := binHeader(4, 4*len(one)+4)
	hNoSize, bNoSize := binaryBody(t, pix([]int{1, 3, 32, 32}, one), []byte{1, 2, 3, 4})
	hBoth, bBoth := binaryBody(t, map[string]any{"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32",
		"shape": []int{1, 3, 32, 32}, "data": one, "parameters": map[string]any{"binary_data_size": 4 * len(one)}}}}, f32bytes(one))
	badPrefix := binary.LittleEndian.AppendUint32(nil, 1000)
	hPrefix, bPrefix := binaryBody(t, map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES",
		"shape": []int{1}, "parameters": map[string]any{"binary_data_size": len(badPrefix) + 3}}}}, append(badPrefix, 1, 2, 3))
	hCount, bCount := binaryBody(t, map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES",
		"shape": []int{2}, "parameters": map[string]any{"binary_data_size": 9}}}}, bytesElems([]byte("abcde")))
	b64 := base64.StdEncoding.EncodeToString

	tests := []struct {
		name   string
		header http.Header
		body   []byte
		status int
		msg    string
	}{
		{"malformed json", jsonH, []byte(`{"inputs": [`), 400, "malformed JSON"},
		{"not an object", jsonH, []byte(`[1,2]`), 400, "malformed JSON"},
		{"no inputs", jsonH, []byte(`{"inputs": []}`), 400, "0 inputs"},
		{"two inputs", jsonH, js(map[string]any{"inputs": []any{pix(nil, nil)["inputs"].([]any)[0], pix(nil, nil)["inputs"].([]any)[0]}}), 400, "more than one input"},
		{"unknown input", jsonH, []byte(`{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}`), 400, `unknown input "x"`},
		{"no input name", jsonH, []byte(`{"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]}`), 400, "no name"},
		{"wrong datatype", jsonH, []byte(`{"inputs":[{"name":"pixel_values","datatype":"FP64","shape":[1,3,32,32],"data":[1]}]}`), 400, "datatype FP64"},
		{"unknown datatype", jsonH, []byte(`{"inputs":[{"name":"pixel_values","datatype":"FLOAT","shape":[1,3,32,32],"data":[1]}]}`), 400, `unknown datatype "FLOAT"`},
		{"image as FP32", jsonH, []byte(`{"inputs":[{"name":"image","datatype":"FP32","shape":[1],"data":[1]}]}`), 400, "it takes BYTES"},
		{"wrong shape", jsonH, js(pix([]int{1, 3, 16, 16}, one[:768])), 400, "shape [1, 3, 16, 16]"},
		{"wrong rank", jsonH, js(pix([]int{3, 32, 32}, one)), 400, "shape [3, 32, 32]"},
		{"batch 0", jsonH, js(pix([]int{0, 3, 32, 32}, []float32{})), 400, "at least 1"},
		{"negative dim", jsonH, js(pix([]int{-1, 3, 32, 32}, one)), 400, "at least 1"},
		{"fractional dim", jsonH, []byte(`{"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[1.5,3,32,32],"data":[1]}]}`), 400, "malformed JSON"},
		{"missing data", jsonH, js(pix([]int{1, 3, 32, 32}, nil)), 400, "no data"},
		{"too few values", jsonH, js(pix([]int{1, 3, 32, 32}, one[:100])), 400, "100 values; its shape says 3072"},
		{"too many values", jsonH, js(pix([]int{1, 3, 32, 32}, append(one, 1))), 400, "more than the 3072 values"},
		{"string value", jsonH, js(pix([]int{1, 3, 32, 32}, []any{"1"})), 400, "not a number"},
		{"null value", jsonH, js(pix([]int{1, 3, 32, 32}, []any{nil})), 400, "not a number"},
		{"data not array", jsonH, js(pix([]int{1, 3, 32, 32}, 5)), 400, "want an array"},
		{"out of float32 range", jsonH, []byte(`{"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[1,3,32,32],"data":[1e39` + strings.Repeat(",0", 3071) + `]}]}`), 400, "value 0 (1e39) is not an FP32 number"},
		{"unknown output", jsonH, withOutputs(map[string]any{"name": "scores"}), 400, `unknown output "scores"`},
		{"duplicate output", jsonH, withOutputs(map[string]any{"name": "logits"}, map[string]any{"name": "logits"}), 400, "twice"},
		{"bad binary_data", jsonH, withOutputs(map[string]any{"name": "logits", "parameters": map[string]any{"binary_data": "yes"}}), 400, "want true or false"},
		{"bad binary_data_output", jsonH, js(map[string]any{"parameters": map[string]any{"binary_data_output": 1}, "inputs": pix([]int{1, 3, 32, 32}, one)["inputs"]}), 400, "want true or false"},
		{"bad base64", jsonH, []byte(`{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["%%%"]}]}`), 400, "not base64"},
		{"bytes not strings", jsonH, []byte(`{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":[1]}]}`), 400, "want a base64 string"},
		{"bytes count", jsonH, js(map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES", "shape": []int{2}, "data": []string{b64([]byte("x"))}}}}), 400, "1 elements for shape [2]"},
		{"not an image", jsonH, js(map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES", "shape": []int{1}, "data": []string{b64([]byte("hello, world"))}}}}), 400, "image 0"},
		{"empty image", jsonH, js(map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES", "shape": []int{1}, "data": []string{""}}}}), 400, "image 0: empty"},
		{"truncated jpeg", jsonH, js(map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES", "shape": []int{1}, "data": []string{b64(readFile(t, "../samples/grace_hopper.jpg")[:300])}}}}), 400, "image 0"},
		{"body over limit", jsonH, make([]byte, 1<<20+1), 413, "over the server's limit"},
		{"more images than the queue", jsonH, js(map[string]any{"inputs": []any{map[string]any{"name": "image", "datatype": "BYTES", "shape": []int{9}, "data": []string{}}}}), 413, "more than the server queues"},
		{"json length past body", http.Header{headerJSONLength: {"99999"}}, []byte(`{}`), 400, headerJSONLength},
		{"json length not a number", http.Header{headerJSONLength: {"x"}}, []byte(`{}`), 400, headerJSONLength},
		{"binary size mismatch", hExtra, bExtra, 400, "binary_data_size is 12288 but the body holds 12292"},
		{"binary size short of shape", hShort, bShort, 400, "binary_data_size is 12284 but the body holds 12288"},
		{"binary size off shape", hOdd, bOdd, 400, "12292 bytes of FP32 data for 3072 values"},
		{"binary without size", hNoSize, bNoSize, 400, "no input has binary_data_size"},
		{"binary and data", hBoth, bBoth, 400, "both data and binary_data_size"},
		{"bytes length prefix", hPrefix, bPrefix, 400, "claims 1000 bytes"},
		{"bytes element count", hCount, bCount, 400, "1 BYTES elements for shape [2]"},
		{"raw request not an image", http.Header{headerJSONLength: {"0"}}, []byte("definitely not an image"), 400, "image 0"},
		{"raw request empty", http.Header{headerJSONLength: {"0"}}, nil, 400, "image 0: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := httpDo(t, "POST", url, tt.header, tt.body)
			require.Equal(t, tt.status, status, "body %s", body)
			require.Equal(t, "application/json", h.Get("Content-Type"))
			require.Contains(t, errorBody(t, body), tt.msg)
		})
	}
	// The server still answers after all that.
	status, _, body := postJSON(t, url, pix([]int{1, 3, 32, 32}, one))
	require.Equal(t, 200, status, "%s", body)
}

func TestRESTNonFiniteOutputs(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, &nanEngine{refEngine(t, m, 4)}, Options{Name: "tiny"})
	one := deit.RandomPixels(m.Config, 1, 3)
	req := map[string]any{"inputs": []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{1, 3, 32, 32}, "data": one}}}
	// Finite pixels that make the model compute NaN are the client's: 400,
	// whether the answer would be JSON or binary.
	status, _, body := postJSON(t, ts.url+"/v2/models/tiny/infer", req)
	require.Equal(t, 400, status)
	require.Contains(t, errorBody(t, body), "image 0: the model produced non-finite logits")
	req["outputs"] = []any{map[string]any{"name": "logits", "parameters": map[string]any{"binary_data": true}}}
	status, _, body = postJSON(t, ts.url+"/v2/models/tiny/infer", req)
	require.Equal(t, 400, status, "%s", body)
	require.Contains(t, errorBody(t, body), "too large for the model")
}

// nanEngine makes every image's first logit NaN.
type nanEngine struct{ engine.Engine }

func (e *nanEngine) Run(ctx context.Context, px []float32, B int, taps deit.Tap) (*engine.Output, error) {
	out, err := e.Engine.Run(ctx, px, B, taps)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(out.Logits); i += 10 {
		out.Logits[i] = float32(math.NaN())
	}
	return out, nil
}

func TestRESTSlowHeaders(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", ReadHeaderTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprint(conn, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n") // never finishes its headers
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	// The server gives up on the slow client: it closes the connection
	// (possibly after a 408).
	if err == nil {
		require.Contains(t, string(buf[:n]), "408")
		_, err = conn.Read(buf)
	}
	require.Error(t, err)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server kept a slow client's connection open")
}
