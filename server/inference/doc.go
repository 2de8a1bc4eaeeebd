// Package inference is the Go code protoc generates from
// open_inference_grpc.proto: the messages and the GRPCInferenceService
// client and server of the Open Inference Protocol (KServe v2) over gRPC.
// Regenerate it with `make proto`; do not edit the .pb.go files.
package inference
