// Package server serves a DeiT image classifier over the Open Inference
// Protocol (KServe v2), the HTTP/REST and gRPC API that KServe, Triton and
// Seldon speak, so that vkdeit can run as a KServe ServingRuntime or
// behind any OIP client.
//
// # Endpoints
//
// On the HTTP port (default :8080):
//
//	GET  /v2/health/live                     {"live": true}
//	GET  /v2/health/ready                    {"ready": bool}, 503 when not ready
//	GET  /v2                                 server metadata (extensions: binary_tensor_data)
//	GET  /v2/models/NAME[/versions/V]        model metadata
//	GET  /v2/models/NAME[/versions/V]/ready  {"name", "ready"}, 503 when not ready
//	POST /v2/models/NAME[/versions/V]/infer  inference
//	POST /classify?top_k=5                   an image file → [{"label", "score"}, ...]
//	GET  /metrics                            Prometheus metrics
//
// On the gRPC port (default :8081): inference.GRPCInferenceService
// (ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata,
// ModelInfer), grpc.health.v1.Health and server reflection.
//
// # Tensors
//
// A request has exactly one input:
//
//	pixel_values  FP32  [B, C, H, W]  preprocessed images, as Hugging Face's image processor makes them
//	image         BYTES [B]           encoded image files (JPEG, PNG, GIF, BMP, TIFF, WebP), preprocessed
//	                                  by the server exactly as `vkdeit classify` does
//
// and asks for any of these outputs (default: logits alone):
//
//	logits                  FP32 [B, NumLabels]
//	probabilities           FP32 [B, NumLabels]  softmax of the logits
//	embedding               FP32 [B, Hidden]     final-LayerNorm [CLS] row (DeiTModel's last_hidden_state[:, 0])
//	distillation_embedding  FP32 [B, Hidden]     the [DIST] row, distilled models only
//
// REST tensor data may be flat or nested JSON arrays; BYTES elements in
// JSON are base64 strings. Triton's binary tensor data extension carries
// either input or any output as raw little-endian bytes after the JSON
// header (parameters binary_data_size, binary_data, binary_data_output;
// header Inference-Header-Content-Length). With
// Inference-Header-Content-Length: 0 the whole body is one image file.
// gRPC inputs come in raw_input_contents or contents; the answer uses the
// same form.
//
// # Batching
//
// All requests share one queue. A dispatcher forms batches of up to
// Options.MaxBatch images whenever the engine is free, waiting at most
// Options.MaxDelay after the oldest queued request for a batch to fill;
// a request larger than MaxBatch is split across batches. Image inputs
// are decoded on Options.Workers goroutines before they queue. The queue
// holds at most Options.MaxQueue images: beyond that requests are refused
// at once (429 / RESOURCE_EXHAUSTED); a request whose deadline passes or
// whose client goes away gives up its place.
//
// # Errors
//
// Errors are {"error": "..."} with 400 (malformed or not fitting the
// model), 404 (unknown endpoint, model or version), 405, 413 (too large),
// 429 (queue full), 503 (not ready, shutting down), 504 (deadline) or 500;
// over gRPC INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, UNAVAILABLE,
// DEADLINE_EXCEEDED or INTERNAL.
package server
