package server

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vkdeit/vkdeit/server/inference"
)

// grpcService implements inference.GRPCInferenceServiceServer on a Server.
type grpcService struct {
	inference.UnimplementedGRPCInferenceServiceServer
	s *Server
}

// grpcError turns err into a gRPC status with its kind's code.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	ae := toAPIError(err)
	return status.Error(ae.kind.grpcCode(), ae.msg)
}

// modelLabelKey carries, in a ModelInfer call's context, where its
// handler writes the model the request named (for the metrics' label).
type modelLabelKey struct{}

// setModelLabel records the model a ModelInfer request named.
func setModelLabel(ctx context.Context, name string) {
	if p, ok := ctx.Value(modelLabelKey{}).(*string); ok {
		*p = name
	}
}

// grpcRecover is the unary interceptor: it turns a panic into INTERNAL,
// maps errors to status codes, and records ModelInfer calls in the
// metrics and the log (at debug; at info with the error's text when
// refused as the client's fault).
func (s *Server) grpcRecover(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	t0 := time.Now()
	model := new(string)
	ctx = context.WithValue(ctx, modelLabelKey{}, model)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("grpc handler panic", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, fmt.Sprintf("internal error: %v", p))
		}
		if info.FullMethod != inference.GRPCInferenceService_ModelInfer_FullMethodName {
			return
		}
		code := status.Code(err)
		if ctx.Err() != nil && code != codes.OK && code != codes.DeadlineExceeded {
			code = codes.Canceled
		}
		label := s.metricModel(*model)
		took := time.Since(t0).Seconds()
		s.met.requests.WithLabelValues(label, "grpc", code.String()).Inc()
		s.met.duration.WithLabelValues(label, "grpc").Observe(took)
		attrs := []any{"protocol", "grpc", "model", label, "method", info.FullMethod, "code", code.String(), "took_s", took}
		switch code {
		case codes.Internal:
			s.log.Error("request failed", append(attrs, "err", err)...)
		case codes.InvalidArgument, codes.NotFound, codes.ResourceExhausted:
			s.log.Info("request refused", append(attrs, "error", status.Convert(err).Message())...)
		default:
			s.log.Debug("request", attrs...)
		}
	}()
	resp, err = h(ctx, req)
	return resp, grpcError(err)
}

// ServerLive implements inference.GRPCInferenceServiceServer.
func (g *grpcService) ServerLive(context.Context, *inference.ServerLiveRequest) (*inference.ServerLiveResponse, error) {
	return &inference.ServerLiveResponse{Live: true}, nil
}

// ServerReady implements inference.GRPCInferenceServiceServer.
func (g *grpcService) ServerReady(context.Context, *inference.ServerReadyRequest) (*inference.ServerReadyResponse, error) {
	return &inference.ServerReadyResponse{Ready: g.s.Ready()}, nil
}

// ModelReady implements inference.GRPCInferenceServiceServer.
func (g *grpcService) ModelReady(_ context.Context, r *inference.ModelReadyRequest) (*inference.ModelReadyResponse, error) {
	md, err := g.s.lookup(r.GetName(), r.GetVersion())
	if err != nil {
		return nil, err
	}
	return &inference.ModelReadyResponse{Ready: md.ready() && g.s.serving.Load()}, nil
}

// ServerMetadata implements inference.GRPCInferenceServiceServer.
func (g *grpcService) ServerMetadata(context.Context, *inference.ServerMetadataRequest) (*inference.ServerMetadataResponse, error) {
	return &inference.ServerMetadataResponse{Name: serverName, Version: g.s.opts.ServerVersion, Extensions: serverExtensions}, nil
}

// ModelMetadata implements inference.GRPCInferenceServiceServer.
func (g *grpcService) ModelMetadata(_ context.Context, r *inference.ModelMetadataRequest) (*inference.ModelMetadataResponse, error) {
	m, err := g.s.lookup(r.GetName(), r.GetVersion())
	if err != nil {
		return nil, err
	}
	md := m.metadata()
	conv := func(ts []tensorMeta) []*inference.ModelMetadataResponse_TensorMetadata {
		out := make([]*inference.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &inference.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	return &inference.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform,
		Inputs: conv(md.Inputs), Outputs: conv(md.Outputs)}, nil
}

// ModelInfer implements inference.GRPCInferenceServiceServer for a
// request decoded already; the server itself serves ModelInfer with
// modelInferHandler, which checks a message's bytes before decoding them.
func (g *grpcService) ModelInfer(ctx context.Context, r *inference.ModelInferRequest) (*inference.ModelInferResponse, error) {
	s := g.s
	leave, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	c := &claim{m: s.mem}
	defer c.release()
	return s.modelInfer(ctx, r, c)
}

// ModelConfig implements inference.GRPCInferenceServiceServer: Triton's
// model configuration, as GET /v2/models/NAME/config has it.
func (g *grpcService) ModelConfig(_ context.Context, r *inference.ModelConfigRequest) (*inference.ModelConfigResponse, error) {
	md, err := g.s.lookup(r.GetName(), r.GetVersion())
	if err != nil {
		return nil, err
	}
	c := md.config(g.s.opts)
	io := func(t modelIOJSON) (inference.DataType, inference.ModelInput_Format) {
		return inference.DataType(inference.DataType_value[t.DataType]), inference.ModelInput_Format(inference.ModelInput_Format_value[t.Format])
	}
	pc := &inference.ModelConfig{Name: c.Name, Platform: c.Platform, Backend: c.Backend, MaxBatchSize: int32(c.MaxBatchSize),
		DynamicBatching: &inference.ModelDynamicBatching{PreferredBatchSize: c.DynamicBatching.PreferredBatchSize,
			MaxQueueDelayMicroseconds: c.DynamicBatching.MaxQueueDelayMicroseconds}}
	for _, t := range c.Input {
		dt, f := io(t)
		pc.Input = append(pc.Input, &inference.ModelInput{Name: t.Name, DataType: dt, Format: f, Dims: t.Dims, Optional: t.Optional})
	}
	for _, t := range c.Output {
		dt, _ := io(t)
		pc.Output = append(pc.Output, &inference.ModelOutput{Name: t.Name, DataType: dt, Dims: t.Dims})
	}
	return &inference.ModelConfigResponse{Config: pc}, nil
}

// RepositoryIndex implements inference.GRPCInferenceServiceServer.
func (g *grpcService) RepositoryIndex(_ context.Context, r *inference.RepositoryIndexRequest) (*inference.RepositoryIndexResponse, error) {
	idx, err := g.s.index(r.GetReady())
	if err != nil {
		return nil, err
	}
	resp := &inference.RepositoryIndexResponse{}
	for _, e := range idx {
		resp.Models = append(resp.Models, &inference.RepositoryIndexResponse_ModelIndex{Name: e.Name, Version: e.Version, State: e.State, Reason: e.Reason})
	}
	return resp, nil
}

// RepositoryModelLoad implements inference.GRPCInferenceServiceServer.
func (g *grpcService) RepositoryModelLoad(_ context.Context, r *inference.RepositoryModelLoadRequest) (*inference.RepositoryModelLoadResponse, error) {
	if len(r.GetParameters()) > 0 {
		return nil, errorf(kindBadRequest, "load takes no parameters")
	}
	if err := g.s.load(g.s.life, r.GetModelName()); err != nil {
		return nil, err
	}
	return &inference.RepositoryModelLoadResponse{}, nil
}

// RepositoryModelUnload implements inference.GRPCInferenceServiceServer.
func (g *grpcService) RepositoryModelUnload(_ context.Context, r *inference.RepositoryModelUnloadRequest) (*inference.RepositoryModelUnloadResponse, error) {
	if len(r.GetParameters()) > 0 {
		return nil, errorf(kindBadRequest, "unload takes no parameters")
	}
	if err := g.s.unload(r.GetModelName()); err != nil {
		return nil, err
	}
	return &inference.RepositoryModelUnloadResponse{}, nil
}

// modelInfer answers a decoded ModelInferRequest, charging the tensors it
// decodes to c. Inputs come in raw_input_contents or in contents
// (fp32_contents for pixel_values, bytes_contents for image); the answer
// uses the same form as the request: raw_output_contents for raw inputs,
// fp32_contents otherwise.
func (s *Server) modelInfer(ctx context.Context, r *inference.ModelInferRequest, c *claim) (*inference.ModelInferResponse, error) {
	setModelLabel(ctx, r.GetModelName())
	md, err := s.lookupReady(r.GetModelName(), r.GetModelVersion())
	if err != nil {
		return nil, err
	}
	req, raw, err := md.parseGRPC(r, c)
	if err != nil {
		return nil, err
	}
	res, err := s.infer(ctx, md, req)
	if err != nil {
		return nil, err
	}
	resp := &inference.ModelInferResponse{ModelName: md.name, ModelVersion: md.version, Id: r.GetId()}
	for _, t := range md.outputs(req, res) {
		o := &inference.ModelInferResponse_InferOutputTensor{Name: t.name, Datatype: t.datatype(), Shape: t.shape}
		switch {
		case raw && t.bytes != nil:
			resp.RawOutputContents = append(resp.RawOutputContents, appendBytesElems(nil, t.bytes))
		case raw:
			resp.RawOutputContents = append(resp.RawOutputContents, appendFP32(nil, t.data))
		case t.bytes != nil:
			o.Contents = &inference.InferTensorContents{BytesContents: t.bytes}
		default:
			o.Contents = &inference.InferTensorContents{Fp32Contents: t.data}
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	return resp, nil
}

// parseGRPC decodes a ModelInferRequest, charging the pixels it decodes
// to c; raw reports whether its input came in raw_input_contents.
func (md *model) parseGRPC(r *inference.ModelInferRequest, c *claim) (req *request, raw bool, err error) {
	ins := r.GetInputs()
	if len(ins) != 1 {
		return nil, false, errorf(kindBadRequest, "%d inputs; a request has exactly one: %s or %s", len(ins), inputPixels, inputImage)
	}
	in := ins[0]
	req = &request{id: r.GetId()}
	if req.n, err = md.inputShape(in.GetName(), in.GetDatatype(), in.GetShape()); err != nil {
		return nil, false, err
	}
	raws := r.GetRawInputContents()
	switch {
	case len(raws) > 0 && len(raws) != len(ins):
		return nil, false, errorf(kindBadRequest, "%d raw_input_contents for %d inputs", len(raws), len(ins))
	case len(raws) > 0 && in.GetContents() != nil:
		return nil, false, errorf(kindBadRequest, "input %s has contents and raw_input_contents; use one", in.GetName())
	case len(raws) == 0 && in.GetContents() == nil:
		return nil, false, errorf(kindBadRequest, "input %s has no data (contents or raw_input_contents)", in.GetName())
	}
	raw = len(raws) > 0
	contents := in.GetContents()
	switch in.GetName() {
	case inputPixels:
		count := md.pixelCount(req.n)
		if raw {
			req.pixels, err = decodeFP32(in.GetName(), raws[0], count, c)
		} else if got := len(contents.GetFp32Contents()); got != count {
			err = errorf(kindBadRequest, "input %s: %d fp32_contents; its shape says %d", in.GetName(), got, count)
		} else {
			req.pixels = contents.GetFp32Contents()
		}
		if err == nil {
			err = md.checkFinite(in.GetName(), req.pixels)
		}
	case inputImage:
		if raw {
			req.images, err = splitBytes(in.GetName(), raws[0], req.n)
		} else if got := len(contents.GetBytesContents()); got != req.n {
			err = errorf(kindBadRequest, "input %s: %d bytes_contents; its shape says %d", in.GetName(), got, req.n)
		} else {
			req.images = contents.GetBytesContents()
		}
	}
	if err != nil {
		return nil, false, err
	}
	names := make([]string, len(r.GetOutputs()))
	for i, o := range r.GetOutputs() {
		names[i] = o.GetName()
	}
	if req.outputs, err = md.checkOutputs(names); err != nil {
		return nil, false, err
	}
	req.classes = make([]int, len(req.outputs))
	for i, o := range r.GetOutputs() {
		p, ok := o.GetParameters()[paramClassification]
		if !ok {
			continue
		}
		k, isInt := p.GetParameterChoice().(*inference.InferParameter_Int64Param)
		if !isInt || k.Int64Param < 1 {
			return nil, false, errorf(kindBadRequest, "output %s: parameter %s must be an int64_param of at least 1 (the number of classes to report)", o.GetName(), paramClassification)
		}
		if req.classes[i], err = md.classCount(o.GetName(), k.Int64Param); err != nil {
			return nil, false, err
		}
	}
	return req, raw, nil
}
