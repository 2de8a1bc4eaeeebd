package server

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/vkdeit/vkdeit/server/inference"
)

// grpcCodec is the server's gRPC codec: protobuf, except that a
// *wireMessage receives the message's bytes undecoded, so that ModelInfer
// can take its slot before the message is read and check its bytes
// before they are decoded (grpc-go reads and decodes a unary request
// before any interceptor or handler runs).
type grpcCodec struct{ proto encoding.CodecV2 }

func newGRPCCodec() grpcCodec { return grpcCodec{proto: encoding.GetCodecV2(grpcproto.Name)} }

func (c grpcCodec) Name() string { return c.proto.Name() }

func (c grpcCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c grpcCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if w, ok := v.(*wireMessage); ok {
		w.b = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// wireMessage is a request message as it came over the wire.
type wireMessage struct{ b []byte }

// grpcServiceDesc is the generated service description with ModelInfer's
// handler replaced by modelInferHandler.
func (s *Server) grpcServiceDesc() *grpc.ServiceDesc {
	d := inference.GRPCInferenceService_ServiceDesc
	d.Methods = slices.Clone(d.Methods)
	for i := range d.Methods {
		if d.Methods[i].MethodName == "ModelInfer" {
			d.Methods[i].Handler = s.modelInferHandler
		}
	}
	return &d
}

// modelInferHandler serves ModelInfer inside the interceptors (which count
// it, whatever becomes of it): it takes an inference slot, then receives
// the message (see recvGRPC), checks its bytes (checkInferWire), decodes
// it, and answers it as ModelInfer does.
func (s *Server) modelInferHandler(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
	h := func(ctx context.Context, _ any) (any, error) {
		leave, err := s.enter()
		if err != nil {
			return nil, err
		}
		defer leave()
		c := &claim{m: s.mem}
		defer c.release()
		wire, err := s.recvGRPC(ctx, dec)
		if err != nil {
			return nil, err
		}
		// The message and what it decodes to (at most about as much).
		if err := c.grow(2 * int64(len(wire))); err != nil {
			return nil, err
		}
		if err := checkInferWire(wire, maxOutputNames, s.opts.MaxQueue); err != nil {
			return nil, err
		}
		r := new(inference.ModelInferRequest)
		if err := proto.Unmarshal(wire, r); err != nil {
			return nil, errorf(kindBadRequest, "malformed request message: %v", err)
		}
		return s.modelInfer(ctx, r, c)
	}
	if ic == nil {
		return h(ctx, nil)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: inference.GRPCInferenceService_ModelInfer_FullMethodName}
	return ic(ctx, nil, info, h)
}

// recvGRPC receives a call's message, once one of the grpcRecv places is
// free: messages being received hold up to Options.MaxRequestBytes each
// before their size is known. The message must arrive within
// Options.ReadTimeout (waiting for a place included) and before a drain
// runs out of time; past either, the call is answered and the receipt
// abandoned (grpc-go ends it when the call ends).
func (s *Server) recvGRPC(ctx context.Context, dec func(any) error) ([]byte, error) {
	timer := time.NewTimer(s.opts.ReadTimeout)
	defer timer.Stop()
	select {
	case s.grpcRecv <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.drainCut.Done():
		return nil, errShuttingDown
	case <-timer.C:
		return nil, errorf(kindQueueFull, "%d request messages are being received, the server's limit; retry later", cap(s.grpcRecv))
	}
	var w wireMessage
	done := make(chan error, 1)
	go func() {
		defer func() { <-s.grpcRecv }()
		done <- dec(&w)
	}()
	select {
	case err := <-done:
		return w.b, err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.drainCut.Done():
		return nil, errShuttingDown
	case <-timer.C:
		return nil, errorf(kindSlowClient, "the request message took over %v to arrive", s.opts.ReadTimeout)
	}
}
