// Package deit is the DeiT / ViT image classifier as a model: its
// configuration (including Hugging Face config.json), typed weights and
// checkpoint layouts (Load), the forward pass written once as a plan of
// typed steps (NewPlan) that every engine executes, and the precision a
// model runs at (Precision). It knows no device: package engine runs a plan
// on the GPU, the CPU or the float64 reference, and package classify is the
// classification pipeline.
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
// A typical program finds a model's files with modeldir.Find (or
// hub.ResolveModel for Hub repo ids), loads it with Load, builds an engine
// with engine.New and classifies with classify.New; engine.RunReference is
// the float64 reference every engine is checked against.
package deit
