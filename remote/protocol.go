package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/vkdeit/vkdeit/server/inference"
)

// protocol is one endpoint's transport: REST or gRPC.
type protocol interface {
	// metadata reads the model's metadata (and, over REST, whether the
	// server speaks binary tensors).
	metadata(ctx context.Context) (modelMeta, error)
	// ready returns nil when the model is ready.
	ready(ctx context.Context) error
	// infer sends one request and returns the outputs asked for.
	infer(ctx context.Context, r *inferRequest) (map[string][]float32, error)
	close()
}

// inferRequest is one image's request: FP32 pixels or an encoded file.
type inferRequest struct {
	input   string
	shape   []int64
	pixels  []float32 // FP32 input
	encoded []byte    // BYTES input
	outputs []string
}

func (r *inferRequest) datatype() string {
	if r.encoded != nil {
		return typeBytes
	}
	return typeFP32
}

// maxResponseBytes bounds a REST answer read into memory: far above one
// image's outputs (logits and embeddings are kilobytes), far below what a
// broken or hostile endpoint could send.
const maxResponseBytes = 64 << 20

// The REST binary tensor extension's names (Triton's).
const (
	headerJSONLength  = "Inference-Header-Content-Length"
	paramBinarySize   = "binary_data_size"
	paramBinary       = "binary_data"
	extBinaryTensors  = "binary_tensor_data"
	contentTypeJSON   = "application/json"
	contentTypeBinary = "application/octet-stream"
)

// restProtocol speaks the OIP's HTTP/REST API.
type restProtocol struct {
	base   string // scheme://host[/prefix]
	model  string // /v2/models/NAME[/versions/V]
	client *http.Client
	binary atomic.Bool // the server speaks binary tensors (set by metadata)
}

func newREST(t target, model, version string, client *http.Client) *restProtocol {
	scheme := "http"
	if t.tls {
		scheme = "https"
	}
	p := "/v2/models/" + model
	if version != "" {
		p += "/versions/" + version
	}
	return &restProtocol{base: scheme + "://" + t.host + t.prefix, model: p, client: client}
}

func (r *restProtocol) close() {}

// get reads a JSON document.
func (r *restProtocol) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return &failure{kind: failFatal, err: err}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return httpFailure(resp.StatusCode, body, path)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &failure{kind: failFatal, err: fmt.Errorf("GET %s: %w", path, err)}
	}
	return nil
}

func (r *restProtocol) metadata(ctx context.Context) (modelMeta, error) {
	var md struct {
		Name     string       `json:"name"`
		Platform string       `json:"platform"`
		Inputs   []tensorMeta `json:"inputs"`
		Outputs  []tensorMeta `json:"outputs"`
	}
	if err := r.get(ctx, r.model, &md); err != nil {
		return modelMeta{}, err
	}
	var srv struct {
		Extensions []string `json:"extensions"`
	}
	// Server metadata is optional for this client: without it, JSON only.
	if err := r.get(ctx, "/v2", &srv); err != nil && kindOf(err) == failDown {
		return modelMeta{}, err
	}
	bin := slices.Contains(srv.Extensions, extBinaryTensors)
	r.binary.Store(bin)
	return modelMeta{Name: md.Name, Platform: md.Platform, Inputs: md.Inputs, Outputs: md.Outputs}, nil
}

func (r *restProtocol) ready(ctx context.Context) error {
	return r.get(ctx, r.model+"/ready", nil)
}

// restTensor is a tensor of a REST request or answer.
type restTensor struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype,omitempty"`
	Shape      []int64         `json:"shape,omitempty"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// infer posts the request: with the binary tensor extension, the input
// and the outputs as raw bytes after a JSON header; otherwise all JSON
// (FP32 numbers, BYTES as base64 strings, vkdeit's convention).
func (r *restProtocol) infer(ctx context.Context, q *inferRequest) (map[string][]float32, error) {
	in := restTensor{Name: q.input, Datatype: q.datatype(), Shape: q.shape}
	bin := r.binary.Load()
	var raw []byte
	switch {
	case bin && q.encoded != nil:
		raw = binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(q.encoded)), uint32(len(q.encoded)))
		raw = append(raw, q.encoded...)
	case bin:
		raw = appendFP32(nil, q.pixels)
	case q.encoded != nil:
		in.Data, _ = json.Marshal([]string{base64.StdEncoding.EncodeToString(q.encoded)})
	default:
		in.Data, _ = json.Marshal(q.pixels) // finite: checked by preprocessing
	}
	if raw != nil {
		in.Parameters = map[string]any{paramBinarySize: len(raw)}
	}
	outs := make([]restTensor, len(q.outputs))
	for i, n := range q.outputs {
		outs[i] = restTensor{Name: n}
		if bin {
			outs[i].Parameters = map[string]any{paramBinary: true}
		}
	}
	js, err := json.Marshal(map[string]any{"inputs": []restTensor{in}, "outputs": outs})
	if err != nil {
		return nil, &failure{kind: failFatal, err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+r.model+"/infer", bytes.NewReader(append(js, raw...)))
	if err != nil {
		return nil, &failure{kind: failFatal, err: err}
	}
	req.Header.Set("Content-Type", contentTypeJSON)
	if raw != nil {
		req.Header.Set("Content-Type", contentTypeBinary)
		req.Header.Set(headerJSONLength, strconv.Itoa(len(js)))
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, httpFailure(resp.StatusCode, body, "infer")
	}
	if len(body) > maxResponseBytes {
		return nil, &failure{kind: failFatal, err: fmt.Errorf("infer: the answer is longer than %d bytes", maxResponseBytes)}
	}
	return parseRESTAnswer(body, resp.Header.Get(headerJSONLength))
}

// parseRESTAnswer reads the FP32 outputs of a REST answer: JSON, or a
// JSON header of jsonLen bytes followed by binary outputs.
func parseRESTAnswer(body []byte, jsonLen string) (map[string][]float32, error) {
	bad := func(format string, args ...any) error {
		return &failure{kind: failFatal, err: fmt.Errorf("infer: malformed answer: "+format, args...)}
	}
	head, rest := body, []byte(nil)
	if jsonLen != "" {
		n, err := strconv.Atoi(jsonLen)
		if err != nil || n < 0 || n > len(body) {
			return nil, bad("%s %q for a %d-byte body", headerJSONLength, jsonLen, len(body))
		}
		head, rest = body[:n], body[n:]
	}
	var ans struct {
		Outputs []restTensor `json:"outputs"`
	}
	if err := json.Unmarshal(head, &ans); err != nil {
		return nil, bad("%v", err)
	}
	out := make(map[string][]float32, len(ans.Outputs))
	for _, t := range ans.Outputs {
		if t.Datatype != typeFP32 {
			return nil, bad("output %s is %s, not FP32", t.Name, t.Datatype)
		}
		if size, ok := t.Parameters[paramBinarySize]; ok {
			n, ok := size.(float64)
			if !ok || n < 0 || n > float64(len(rest)) || math.Mod(n, 4) != 0 {
				return nil, bad("output %s: binary_data_size %v with %d bytes left", t.Name, size, len(rest))
			}
			out[t.Name] = decodeFP32(rest[:int(n)])
			rest = rest[int(n):]
			continue
		}
		v, err := flattenJSON(t.Data)
		if err != nil {
			return nil, bad("output %s: %v", t.Name, err)
		}
		out[t.Name] = v
	}
	return out, nil
}

// flattenJSON reads a flat or nested JSON array of numbers.
func flattenJSON(raw json.RawMessage) ([]float32, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var out []float32
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case float64:
			out = append(out, float32(x))
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%T in FP32 data", v)
		}
		return nil
	}
	return out, walk(v)
}

// httpFailure turns a REST error status into a failure of its kind, with
// the server's {"error": ...} text.
func httpFailure(code int, body []byte, what string) error {
	msg := strings.TrimSpace(string(body))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	err := fmt.Errorf("%s: %d %s: %s", what, code, http.StatusText(code), msg)
	switch {
	case code == http.StatusTooManyRequests || code >= 500 && code != http.StatusBadGateway &&
		code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout:
		return &failure{kind: failBusy, err: err}
	case code >= 500:
		return &failure{kind: failDown, err: err}
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed || code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &failure{kind: failFatal, err: err}
	}
	return &failure{kind: failImage, err: err}
}

func appendFP32(dst []byte, v []float32) []byte {
	dst = slices.Grow(dst, 4*len(v))
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

func decodeFP32(raw []byte) []float32 {
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// grpcProtocol speaks the OIP's gRPC API.
type grpcProtocol struct {
	conn    *grpc.ClientConn
	c       inference.GRPCInferenceServiceClient
	model   string
	version string
}

// maxGRPCMessage bounds a gRPC answer as maxResponseBytes bounds REST's,
// and lets a large encoded image through.
const maxGRPCMessage = 1 << 30

func newGRPC(t target, model, version string) (*grpcProtocol, error) {
	creds := insecure.NewCredentials()
	if t.tls {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(t.host, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes), grpc.MaxCallSendMsgSize(maxGRPCMessage)))
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", t.raw, err)
	}
	return &grpcProtocol{conn: conn, c: inference.NewGRPCInferenceServiceClient(conn), model: model, version: version}, nil
}

func (g *grpcProtocol) close() { g.conn.Close() }

func (g *grpcProtocol) metadata(ctx context.Context) (modelMeta, error) {
	r, err := g.c.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: g.model, Version: g.version})
	if err != nil {
		return modelMeta{}, grpcFailure(err, "model metadata")
	}
	conv := func(ts []*inference.ModelMetadataResponse_TensorMetadata) []tensorMeta {
		out := make([]tensorMeta, len(ts))
		for i, t := range ts {
			out[i] = tensorMeta{Name: t.GetName(), Datatype: t.GetDatatype(), Shape: t.GetShape()}
		}
		return out
	}
	return modelMeta{Name: r.GetName(), Platform: r.GetPlatform(), Inputs: conv(r.GetInputs()), Outputs: conv(r.GetOutputs())}, nil
}

func (g *grpcProtocol) ready(ctx context.Context) error {
	r, err := g.c.ModelReady(ctx, &inference.ModelReadyRequest{Name: g.model, Version: g.version})
	if err != nil {
		return grpcFailure(err, "model ready")
	}
	if !r.GetReady() {
		return &failure{kind: failDown, err: errors.New("model ready: false")}
	}
	return nil
}

// infer sends the input in raw_input_contents (as Triton's clients do)
// and reads raw_output_contents, or the fp32 contents of a server that
// answers in that form.
func (g *grpcProtocol) infer(ctx context.Context, q *inferRequest) (map[string][]float32, error) {
	raw := q.encoded
	if raw != nil {
		raw = binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(q.encoded)), uint32(len(q.encoded)))
		raw = append(raw, q.encoded...)
	} else {
		raw = appendFP32(nil, q.pixels)
	}
	req := &inference.ModelInferRequest{ModelName: g.model, ModelVersion: g.version,
		Inputs:           []*inference.ModelInferRequest_InferInputTensor{{Name: q.input, Datatype: q.datatype(), Shape: q.shape}},
		RawInputContents: [][]byte{raw}}
	for _, n := range q.outputs {
		req.Outputs = append(req.Outputs, &inference.ModelInferRequest_InferRequestedOutputTensor{Name: n})
	}
	resp, err := g.c.ModelInfer(ctx, req)
	if err != nil {
		return nil, grpcFailure(err, "infer")
	}
	out := make(map[string][]float32, len(resp.GetOutputs()))
	rawOut := resp.GetRawOutputContents()
	for i, t := range resp.GetOutputs() {
		if t.GetDatatype() != typeFP32 {
			return nil, &failure{kind: failFatal, err: fmt.Errorf("infer: output %s is %s, not FP32", t.GetName(), t.GetDatatype())}
		}
		switch {
		case i < len(rawOut):
			if len(rawOut[i])%4 != 0 {
				return nil, &failure{kind: failFatal, err: fmt.Errorf("infer: output %s: %d raw bytes", t.GetName(), len(rawOut[i]))}
			}
			out[t.GetName()] = decodeFP32(rawOut[i])
		default:
			out[t.GetName()] = t.GetContents().GetFp32Contents()
		}
	}
	return out, nil
}

// grpcFailure sorts a gRPC status into a failure kind.
func grpcFailure(err error, what string) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := fmt.Errorf("%s: %s: %s", what, st.Code(), st.Message())
	switch st.Code() {
	case codes.Unavailable, codes.Canceled:
		return &failure{kind: failDown, err: e}
	case codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Internal, codes.Unknown:
		return &failure{kind: failBusy, err: e}
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return &failure{kind: failImage, err: e}
	}
	return &failure{kind: failFatal, err: e}
}
