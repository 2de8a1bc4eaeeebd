// Package loader reads everything vkdeit needs from disk or the Hugging Face
// hub before inference: model weights (safetensors, PyTorch zip and legacy
// checkpoints, all converted to float32 Tensors), the model's config.json,
// the preprocessor configuration, images and their preprocessing into the
// float tensors the network consumes, and the hub cache and downloads.
//
// Weight files are treated as untrusted input: every size is checked against
// the file before anything is allocated, and pickled PyTorch checkpoints are
// read by a small unpickler that only builds plain values from an allow-list
// of globals and never executes code.
package loader
