// Package ref holds the float64 twins of vkdeit's kernels: plain Go
// functions that compute what every accelerated kernel (the Vulkan shaders
// in package gpu, the SIMD kernels in package cpu) must reproduce, with
// every product, sum and reduction in float64 from float32 inputs.
//
// Each kernel family has one file here named after it (matmul.go,
// attention.go, layernorm.go, gelu.go, glue.go for patchify, tokens and
// gatherrows), and every kernel test compares against these functions. The
// reference engine (engine.Reference) executes a model's plan with them, rounding to float32 between steps as PyTorch stores its
// activations, so "the reference" means the same arithmetic everywhere.
//
// Results that are not exact in float32 come back as []float64 (unrounded,
// so tests can measure a kernel's error against the exact value); pure data
// movement comes back as []float32.
package ref
