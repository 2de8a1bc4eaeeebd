// Package deit holds the DeiT / ViT image classifier: its configuration
// (including Hugging Face config.json), typed weights and checkpoint
// layouts, the float64 reference forward pass, the engines that run it fast
// — on a GPU through Vulkan (GPUEngine), on the CPU (CPUEngine) — behind one
// Engine interface, and the classification API (Classifier, TopK).
//
// The math follows Hugging Face's DeiTForImageClassificationWithTeacher
// step by step (docs/model.md): a stride-P convolution cuts the image into
// patches, one or two special tokens ([CLS] and, for distilled models,
// [DIST]) are prepended, position embeddings added, then pre-LayerNorm
// transformer blocks (softmax attention, exact erf GELU MLP, two
// residuals), a final LayerNorm, and a linear head on the special token(s).
//
// Three checkpoint layouts are read, detected from the tensor names:
// Hugging Face DeiT (deit.*), Hugging Face ViT (vit.*, the non-distilled
// facebook/deit-* checkpoints) and timm / facebookresearch (blocks.N.*, with
// the fused qkv projection split into Q, K and V rows).
//
// A typical program resolves a model with hub.ResolveModel, loads it with
// Load, builds an engine with NewEngine and classifies with a Classifier:
// see the examples. Model.ForwardReference is the reference every engine is
// checked against.
package deit
