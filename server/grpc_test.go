package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vkdeit/vkdeit/deit"
	"github.com/vkdeit/vkdeit/server/inference"
)

// requireCode checks a gRPC error's code and message.
func requireCode(t testing.TB, err error, code codes.Code, msg string) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a gRPC status: %v", err)
	require.Equal(t, code, st.Code(), "message %q", st.Message())
	require.Contains(t, st.Message(), msg)
}

func TestGRPCHealthAndMetadata(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", ServerVersion: "v9"})
	ctx := t.Context()
	c := ts.grpc

	live, err := c.ServerLive(ctx, &inference.ServerLiveRequest{})
	require.NoError(t, err)
	require.True(t, live.GetLive())
	ready, err := c.ServerReady(ctx, &inference.ServerReadyRequest{})
	require.NoError(t, err)
	require.True(t, ready.GetReady())
	sm, err := c.ServerMetadata(ctx, &inference.ServerMetadataRequest{})
	require.NoError(t, err)
	require.Equal(t, "vkdeit", sm.GetName())
	require.Equal(t, "v9", sm.GetVersion())
	require.Equal(t, []string{"binary_tensor_data", "classification", "model_configuration", "model_repository"}, sm.GetExtensions())

	for _, v := range []string{"", "1"} {
		mr, err := c.ModelReady(ctx, &inference.ModelReadyRequest{Name: "tiny", Version: v})
		require.NoError(t, err)
		require.True(t, mr.GetReady())
		md, err := c.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: "tiny", Version: v})
		require.NoError(t, err)
		require.Equal(t, "tiny", md.GetName())
		require.Equal(t, []string{"1"}, md.GetVersions())
		require.Equal(t, "vkdeit", md.GetPlatform())
		require.Len(t, md.GetInputs(), 2)
		require.Equal(t, "pixel_values", md.GetInputs()[0].GetName())
		require.Equal(t, []int64{-1, 3, 32, 32}, md.GetInputs()[0].GetShape())
		require.Equal(t, "BYTES", md.GetInputs()[1].GetDatatype())
		var outs []string
		for _, o := range md.GetOutputs() {
			outs = append(outs, o.GetName())
		}
		require.Equal(t, []string{"logits", "probabilities", "embedding", "distillation_embedding", "attention"}, outs)
	}
	_, err = c.ModelReady(ctx, &inference.ModelReadyRequest{Name: "other"})
	requireCode(t, err, codes.NotFound, `unknown model "other"`)
	_, err = c.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: "tiny", Version: "3"})
	requireCode(t, err, codes.NotFound, `no version "3"`)

	h, err := healthpb.NewHealthClient(ts.grpcConn()).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())
}

func TestGRPCInferExact(t *testing.T) {
	m := tinyModel(t)
	eng := refEngine(t, m, 4)
	ts := startServer(t, m, eng, Options{Name: "tiny", Workers: 2})
	const n = 5 // more than max batch 4: split over two engine calls
	px := deit.RandomPixels(m.Config, n, 11)
	wantLogits, wantEmb := forwardEach(t, eng, px, n)
	L, D, H := m.Config.NumLabels, m.Config.Hidden, m.Config.HeadTokens()
	pixIn := &inference.ModelInferRequest_InferInputTensor{Name: "pixel_values", Datatype: "FP32", Shape: []int64{n, 3, 32, 32}}
	outs := func(names ...string) []*inference.ModelInferRequest_InferRequestedOutputTensor {
		var o []*inference.ModelInferRequest_InferRequestedOutputTensor
		for _, n := range names {
			o = append(o, &inference.ModelInferRequest_InferRequestedOutputTensor{Name: n})
		}
		return o
	}

	t.Run("raw", func(t *testing.T) {
		resp, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{
			ModelName: "tiny", Id: "g1", Inputs: []*inference.ModelInferRequest_InferInputTensor{pixIn},
			Outputs:          outs("logits", "embedding", "distillation_embedding", "probabilities"),
			RawInputContents: [][]byte{f32bytes(px)},
		})
		require.NoError(t, err)
		require.Equal(t, "tiny", resp.GetModelName())
		require.Equal(t, "1", resp.GetModelVersion())
		require.Equal(t, "g1", resp.GetId())
		require.Len(t, resp.GetOutputs(), 4)
		require.Len(t, resp.GetRawOutputContents(), 4)
		require.Equal(t, []int64{n, int64(L)}, resp.GetOutputs()[0].GetShape())
		require.Equal(t, "FP32", resp.GetOutputs()[0].GetDatatype())
		require.Nil(t, resp.GetOutputs()[0].GetContents())
		require.Equal(t, f32bytes(wantLogits), resp.GetRawOutputContents()[0])
		require.Equal(t, []int64{n, int64(D)}, resp.GetOutputs()[1].GetShape())
		require.Equal(t, f32bytes(embRows(wantEmb, n, H, D, 0)), resp.GetRawOutputContents()[1])
		require.Equal(t, f32bytes(embRows(wantEmb, n, H, D, 1)), resp.GetRawOutputContents()[2])
		require.Equal(t, f32bytes(probsOf(t, wantLogits, L)), resp.GetRawOutputContents()[3])
	})
	t.Run("contents", func(t *testing.T) {
		in := proto.CloneOf(pixIn)
		in.Contents = &inference.InferTensorContents{Fp32Contents: px}
		resp, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{
			ModelName: "tiny", ModelVersion: "1", Inputs: []*inference.ModelInferRequest_InferInputTensor{in},
		})
		require.NoError(t, err)
		require.Empty(t, resp.GetRawOutputContents())
		require.Len(t, resp.GetOutputs(), 1)
		require.Equal(t, bits(wantLogits), bits(resp.GetOutputs()[0].GetContents().GetFp32Contents()))
	})
	jpg, png := readFile(t, "../samples/grace_hopper.jpg"), readFile(t, "../testdata/grace_hopper_96x112.png")
	wantImg := imageLogits(t, m, eng, jpg, png)
	imgIn := &inference.ModelInferRequest_InferInputTensor{Name: "image", Datatype: "BYTES", Shape: []int64{2}}
	t.Run("image bytes_contents", func(t *testing.T) {
		in := proto.CloneOf(imgIn)
		in.Contents = &inference.InferTensorContents{BytesContents: [][]byte{jpg, png}}
		resp, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{
			ModelName: "tiny", Inputs: []*inference.ModelInferRequest_InferInputTensor{in}})
		require.NoError(t, err)
		require.Equal(t, bits(wantImg), bits(resp.GetOutputs()[0].GetContents().GetFp32Contents()))
	})
	t.Run("image raw", func(t *testing.T) {
		resp, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{
			ModelName: "tiny", Inputs: []*inference.ModelInferRequest_InferInputTensor{imgIn},
			RawInputContents: [][]byte{bytesElems(jpg, png)}})
		require.NoError(t, err)
		require.Equal(t, f32bytes(wantImg), resp.GetRawOutputContents()[0])
	})
}

func TestGRPCInferErrors(t *testing.T) {
	m := tinyModel(t)
	ts := startServer(t, m, refEngine(t, m, 4), Options{Name: "tiny", MaxQueue: 8, MaxRequestBytes: 1 << 20})
	one := deit.RandomPixels(m.Config, 1, 5)
	type in = inference.ModelInferRequest_InferInputTensor
	pix := func(shape ...int64) *in { return &in{Name: "pixel_values", Datatype: "FP32", Shape: shape} }
	good := []int64{1, 3, 32, 32}
	raw := [][]byte{f32bytes(one)}
	tests := []struct {
		name string
		req  *inference.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"unknown model", &inference.ModelInferRequest{ModelName: "x", Inputs: []*in{pix(good...)}, RawInputContents: raw}, codes.NotFound, `unknown model "x"`},
		{"unknown version", &inference.ModelInferRequest{ModelName: "tiny", ModelVersion: "2", Inputs: []*in{pix(good...)}, RawInputContents: raw}, codes.NotFound, `no version "2"`},
		{"no inputs", &inference.ModelInferRequest{ModelName: "tiny"}, codes.InvalidArgument, "0 inputs"},
		{"two inputs", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(good...), pix(good...)}, RawInputContents: append(raw, raw...)}, codes.InvalidArgument, "more than one input"},
		{"unknown input", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{{Name: "x", Datatype: "FP32", Shape: good}}, RawInputContents: raw}, codes.InvalidArgument, `unknown input "x"`},
		{"wrong datatype", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{{Name: "pixel_values", Datatype: "FP16", Shape: good}}, RawInputContents: raw}, codes.InvalidArgument, "datatype FP16"},
		{"wrong shape", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(1, 3, 32, 31)}, RawInputContents: raw}, codes.InvalidArgument, "shape [1, 3, 32, 31]"},
		{"no data", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(good...)}}, codes.InvalidArgument, "no data"},
		{"raw count", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(good...)}, RawInputContents: append(raw, raw...)}, codes.InvalidArgument, "more than one raw_input_contents"},
		{"raw and contents", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{{Name: "pixel_values", Datatype: "FP32", Shape: good, Contents: &inference.InferTensorContents{Fp32Contents: one}}}, RawInputContents: raw}, codes.InvalidArgument, "use one"},
		{"raw size", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(good...)}, RawInputContents: [][]byte{f32bytes(one[:10])}}, codes.InvalidArgument, "40 bytes of FP32 data for 3072 values"},
		{"contents size", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{{Name: "pixel_values", Datatype: "FP32", Shape: good, Contents: &inference.InferTensorContents{Fp32Contents: one[:7]}}}}, codes.InvalidArgument, "7 fp32_contents"},
		{"bytes count", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{{Name: "image", Datatype: "BYTES", Shape: []int64{2}, Contents: &inference.InferTensorContents{BytesContents: [][]byte{{1}}}}}}, codes.InvalidArgument, "1 bytes_contents"},
		{"bytes raw prefix", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{{Name: "image", Datatype: "BYTES", Shape: []int64{1}}}, RawInputContents: [][]byte{{9, 0, 0}}}, codes.InvalidArgument, "4-byte length"},
		{"not an image", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{{Name: "image", Datatype: "BYTES", Shape: []int64{1}, Contents: &inference.InferTensorContents{BytesContents: [][]byte{[]byte("nope")}}}}}, codes.InvalidArgument, "image 0"},
		{"unknown output", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(good...)}, RawInputContents: raw, Outputs: []*inference.ModelInferRequest_InferRequestedOutputTensor{{Name: "nope"}}}, codes.InvalidArgument, `unknown output "nope"`},
		{"more images than the queue", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(9, 3, 32, 32)}, RawInputContents: raw}, codes.ResourceExhausted, "more than the server queues"},
		{"message over limit", &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(good...)}, RawInputContents: [][]byte{make([]byte, 1<<20+1)}}, codes.ResourceExhausted, "larger than max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := ts.grpc.ModelInfer(ctx, tt.req)
			requireCode(t, err, tt.code, tt.msg)
		})
	}
	resp, err := ts.grpc.ModelInfer(t.Context(), &inference.ModelInferRequest{ModelName: "tiny", Inputs: []*in{pix(good...)}, RawInputContents: raw})
	require.NoError(t, err)
	require.Len(t, resp.GetRawOutputContents(), 1)
}
