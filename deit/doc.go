// Package deit holds the DeiT / ViT image classifier: its configuration,
// typed weights, a way to build a model from a checkpoint directory or file,
// a plain pure-Go CPU reference forward pass, and the Vulkan GPU forward.
//
// The math follows the Hugging Face DeiTForImageClassificationWithTeacher
// model step by step (see the project's deit-spec.md §2): a stride-P
// convolution cuts the image into patches, one or two special tokens
// ([CLS] and, for distilled models, [DIST]) are prepended, position
// embeddings added, then pre-LayerNorm transformer blocks (separate Q/K/V,
// softmax attention, exact erf GELU MLP, two residuals), a final LayerNorm,
// and a linear head on the special token(s).
//
// Three checkpoint layouts are read, detected from the tensor names:
// Hugging Face DeiT (deit.*), Hugging Face ViT (vit.*, the non-distilled
// facebook/deit-* checkpoints) and timm / facebookresearch (blocks.N.*, with
// the fused qkv projection split into Q, K and V rows).
//
// ForwardReference is the reference every faster path is checked against: plain
// loops with float64 accumulation, split over goroutines by rows only.
// Engine runs the same network on a gpu.Device as one recorded submission.
package deit
