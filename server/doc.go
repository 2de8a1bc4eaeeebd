// Package server serves DeiT image classifiers over the Open Inference
// Protocol (KServe v2), the HTTP/REST and gRPC API that KServe, Triton and
// Seldon speak, with Triton's model configuration, classification and
// model repository extensions, so that vkdeit can run as a KServe
// ServingRuntime or behind any OIP or Triton client (perf_analyzer,
// tritonclient) unchanged. A server serves the model given to New and,
// with Options.Repository, every model of a model repository.
//
// # Endpoints
//
// On the HTTP port (default :8080):
//
//	GET  /v2/health/live                     {"live": true}
//	GET  /v2/health/ready                    {"ready": bool}, 503 when not ready
//	GET  /v2                                 server metadata (extensions: binary_tensor_data,
//	                                         classification, model_configuration, model_repository)
//	GET  /v2/models/NAME[/versions/V]        model metadata
//	GET  /v2/models/NAME[/versions/V]/ready  {"name", "ready"}, 503 when not ready
//	GET  /v2/models/NAME[/versions/V]/config Triton's model configuration
//	POST /v2/models/NAME[/versions/V]/infer  inference
//	POST /classify?top_k=5[&model=NAME]      image files → [{"label", "score"}, ...] (one),
//	                                         [{"filename", "predictions"}, ...] (several)
//	POST /v2/repository/index                [{"name", "version", "state", "reason"}, ...]
//	POST /v2/repository/models/NAME/load     load (or reload) a repository model
//	POST /v2/repository/models/NAME/unload   drain and unload a model
//	GET  /metrics                            Prometheus metrics (every series labelled by model)
//
// On the gRPC port (default :8081): inference.GRPCInferenceService
// (ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata,
// ModelInfer, ModelConfig, RepositoryIndex, RepositoryModelLoad,
// RepositoryModelUnload), grpc.health.v1.Health and server reflection.
//
// # Readiness
//
// Serve is live once it listens. It then warms up every model (each batch
// size from 1 to MaxBatch runs once, so that no request pays a GPU
// engine's one-time recording) and loads the repository's models, and
// only then turns ready; inference for a model not yet warm is 503 /
// UNAVAILABLE.
//
// # Tensors
//
// A request has exactly one input:
//
//	pixel_values  FP32  [B, C, H, W]  preprocessed images, as Hugging Face's image processor makes them
//	image         BYTES [B]           encoded image files (JPEG, PNG, GIF, BMP, TIFF, WebP), preprocessed
//	                                  by the server exactly as `vkdeit classify` does
//
// (image also as [B, 1], as Triton's clients shape strings) and asks for
// any of these outputs (default: logits alone):
//
//	logits                  FP32 [B, NumLabels]
//	probabilities           FP32 [B, NumLabels]  softmax of the logits
//	embedding               FP32 [B, Hidden]     final-LayerNorm [CLS] row (DeiTModel's last_hidden_state[:, 0])
//	distillation_embedding  FP32 [B, Hidden]     the [DIST] row, distilled models only
//	attention               FP32 [B, S, G, G]    each special token's attention rollout over the G×G patches
//
// REST tensor data may be flat or nested JSON arrays; BYTES elements in
// JSON are base64 strings. Triton's binary tensor data extension carries
// either input or any output as raw little-endian bytes after the JSON
// header (parameters binary_data_size, binary_data, binary_data_output;
// header Inference-Header-Content-Length). With
// Inference-Header-Content-Length: 0 the whole body is one image file.
// gRPC inputs come in raw_input_contents or contents; the answer uses the
// same form. An output asked for with the parameter classification K
// (Triton's classification extension; gRPC int64_param) comes back as
// BYTES [B, K]: each image's K highest values as "value:index:label"
// (value as C's %f; labels on logits and probabilities).
//
// # Batching
//
// All requests for a model share its queue. A dispatcher forms batches of up to
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
