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

// grpcRecover is the unary interceptor: it turns a panic into INTERNAL,
// maps errors to status codes, and records ModelInfer calls in the
// metrics and the debug log.
func (s *Server) grpcRecover(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	t0 := time.Now()
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
		if code == codes.Internal {
			s.log.Error("request failed", "protocol", "grpc", "err", err)
		}
		s.met.requests.WithLabelValues("grpc", code.String()).Inc()
		s.met.duration.WithLabelValues("grpc").Observe(time.Since(t0).Seconds())
		s.log.Debug("request", "protocol", "grpc", "method", info.FullMethod, "code", code.String(), "took", time.Since(t0))
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
	if err := g.s.checkModel(r.GetName(), r.GetVersion()); err != nil {
		return nil, err
	}
	return &inference.ModelReadyResponse{Ready: g.s.Ready()}, nil
}

// ServerMetadata implements inference.GRPCInferenceServiceServer.
func (g *grpcService) ServerMetadata(context.Context, *inference.ServerMetadataRequest) (*inference.ServerMetadataResponse, error) {
	return &inference.ServerMetadataResponse{Name: serverName, Version: g.s.opts.ServerVersion, Extensions: serverExtensions}, nil
}

// ModelMetadata implements inference.GRPCInferenceServiceServer.
func (g *grpcService) ModelMetadata(_ context.Context, r *inference.ModelMetadataRequest) (*inference.ModelMetadataResponse, error) {
	if err := g.s.checkModel(r.GetName(), r.GetVersion()); err != nil {
		return nil, err
	}
	md := g.s.modelMetadata()
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

// modelInfer answers a decoded ModelInferRequest, charging the tensors it
// decodes to c. Inputs come in raw_input_contents or in contents
// (fp32_contents for pixel_values, bytes_contents for image); the answer
// uses the same form as the request: raw_output_contents for raw inputs,
// fp32_contents otherwise.
func (s *Server) modelInfer(ctx context.Context, r *inference.ModelInferRequest, c *claim) (*inference.ModelInferResponse, error) {
	if err := s.checkModel(r.GetModelName(), r.GetModelVersion()); err != nil {
		return nil, err
	}
	req, raw, err := s.parseGRPC(r, c)
	if err != nil {
		return nil, err
	}
	logits, emb, err := s.infer(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := &inference.ModelInferResponse{ModelName: s.opts.Name, ModelVersion: s.opts.Version, Id: r.GetId()}
	for _, t := range s.outputs(req, logits, emb) {
		o := &inference.ModelInferResponse_InferOutputTensor{Name: t.name, Datatype: typeFP32, Shape: t.shape}
		if raw {
			resp.RawOutputContents = append(resp.RawOutputContents, appendFP32(nil, t.data))
		} else {
			o.Contents = &inference.InferTensorContents{Fp32Contents: t.data}
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	return resp, nil
}

// parseGRPC decodes a ModelInferRequest, charging the pixels it decodes
// to c; raw reports whether its input came in raw_input_contents.
func (s *Server) parseGRPC(r *inference.ModelInferRequest, c *claim) (req *request, raw bool, err error) {
	ins := r.GetInputs()
	if len(ins) != 1 {
		return nil, false, errorf(kindBadRequest, "%d inputs; a request has exactly one: %s or %s", len(ins), inputPixels, inputImage)
	}
	in := ins[0]
	req = &request{id: r.GetId()}
	if req.n, err = s.inputShape(in.GetName(), in.GetDatatype(), in.GetShape()); err != nil {
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
		count := s.pixelCount(req.n)
		if raw {
			req.pixels, err = decodeFP32(in.GetName(), raws[0], count, c)
		} else if got := len(contents.GetFp32Contents()); got != count {
			err = errorf(kindBadRequest, "input %s: %d fp32_contents; its shape says %d", in.GetName(), got, count)
		} else {
			req.pixels = contents.GetFp32Contents()
		}
		if err == nil {
			err = s.checkFinite(in.GetName(), req.pixels)
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
	if req.outputs, err = s.checkOutputs(names); err != nil {
		return nil, false, err
	}
	return req, raw, nil
}
