package server

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/explain"
	"github.com/vkdeit/vkdeit/server/inference"
)

// wantAttention is the attention output of each image run alone on e:
// explain's rollout maps of its [CLS] and [DIST] tokens, [n, S, G, G].
func wantAttention(t *testing.T, e engine.Engine, px []float32, n int) []float32 {
	t.Helper()
	c := e.Config()
	per := len(px) / n
	var out []float32
	for i := range n {
		o, err := e.Run(context.Background(), px[i*per:(i+1)*per], 1, deit.TapAttention)
		require.NoError(t, err)
		maps, err := explain.Maps(explain.Rollout, o.Attention, 0, c)
		require.NoError(t, err)
		for _, m := range maps {
			for _, v := range m.Values {
				out = append(out, float32(v))
			}
		}
	}
	return out
}

// TestAttentionOutput: the attention output over REST and gRPC is every
// image's rollout maps, bit for bit what explain makes of the engine's tap
// for that image alone, beside the logits; it is listed in the metadata
// with its shape, has no classes, and a request without it asks the engine
// for no attention.
func TestAttentionOutput(t *testing.T) {
	m := tinyModel(t)
	eng := refEngine(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny", Workers: 2})
	const n = 5 // over max batch 4: two engine calls
	px := deit.RandomPixels(m.Config, n, 7)
	want := wantAttention(t, eng, px, n)
	wantLogits, _ := forwardEach(t, eng, px, n)
	shape := []int64{n, 2, 4, 4} // [CLS], [DIST]; 32/8 = 4

	status, _, body := postJSON(t, ts.url+"/v2/models/tiny/infer", map[string]any{
		"inputs":  []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{n, 3, 32, 32}, "data": px}},
		"outputs": []any{map[string]any{"name": "attention"}, map[string]any{"name": "logits"}},
	})
	require.Equal(t, 200, status, "%s", body)
	var r restResponse
	require.NoError(t, json.Unmarshal(body, &r))
	require.Len(t, r.Outputs, 2)
	require.Equal(t, "attention", r.Outputs[0].Name)
	require.Equal(t, shape, r.Outputs[0].Shape)
	require.Equal(t, bits(want), bits(r.Outputs[0].Data))
	require.Equal(t, bits(wantLogits), bits(r.Outputs[1].Data))

	resp, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{
		ModelName:        "tiny",
		Inputs:           []*inference.ModelInferRequest_InferInputTensor{{Name: "pixel_values", Datatype: "FP32", Shape: []int64{n, 3, 32, 32}}},
		Outputs:          []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "attention"}},
		RawInputContents: [][]byte{f32bytes(px)},
	})
	require.NoError(t, err)
	require.Equal(t, shape, resp.GetOutputs()[0].GetShape())
	require.Equal(t, f32bytes(want), resp.GetRawOutputContents()[0])

	status, _, body = httpDo(t, "GET", ts.url+"/v2/models/tiny", nil, nil)
	require.Equal(t, 200, status)
	require.Contains(t, string(body), `{"name":"attention","datatype":"FP32","shape":[-1,2,4,4]}`)

	status, _, body = postJSON(t, ts.url+"/v2/models/tiny/infer", map[string]any{
		"inputs":  []any{map[string]any{"name": "pixel_values", "datatype": "FP32", "shape": []int{1, 3, 32, 32}, "data": px[:len(px)/n]}},
		"outputs": []any{map[string]any{"name": "attention", "parameters": map[string]any{"classification": 3}}},
	})
	require.Equal(t, 400, status, "%s", body)
	require.Contains(t, errorBody(t, body), "output attention: classification applies to outputs of one value per class, not [-1, 2, 4, 4]")
}

// TestTapsFollowOutputs: a request's outputs decide the taps its batches
// ask the engine for — none for logits alone.
func TestTapsFollowOutputs(t *testing.T) {
	for _, tc := range []struct {
		outputs []string
		want    deit.Tap
	}{
		{[]string{outputLogits}, 0},
		{[]string{outputProbabilities, outputLogits}, 0},
		{[]string{outputEmbedding}, deit.TapEmbeddings},
		{[]string{outputDistEmbedding, outputAttention}, deit.TapEmbeddings | deit.TapAttention},
		{[]string{outputAttention}, deit.TapAttention},
	} {
		require.Equal(t, tc.want, (&request{outputs: tc.outputs}).taps(), "%v", tc.outputs)
	}
}
