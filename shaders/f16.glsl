// f16.glsl: the storage types of kernels that are built twice from one
// source, once as is (fp32 buffers) and once with -DFP16 (fp16 buffers,
// file name suffix _f16; see shaders/variants). Only storage changes: every
// value is converted to fp32 when loaded, all arithmetic, accumulation and
// reductions stay fp32, and results are rounded to fp16 (round to nearest
// even) only when stored.
//
//   ST1  the scalar storage type   (float or float16_t)
//   ST4  the 4-vector storage type (vec4 or f16vec4)
//   F1(x), F4(x)  a loaded ST1 / ST4 as float / vec4 (in the fp32 build just
//                 (x), so that its SPIR-V is what it was before this file)
//   S1(x), S4(x)  a float / vec4 result converted for an ST1 / ST4 store
//
// The fp16 build needs shaderFloat16 and storageBuffer16BitAccess.
#ifdef FP16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#define ST1 float16_t
#define ST4 f16vec4
#define F1(x) float(x)
#define F4(x) vec4(x)
#define S1(x) float16_t(x)
#define S4(x) f16vec4(x)
#else
#define ST1 float
#define ST4 vec4
#define F1(x) (x)
#define F4(x) (x)
#define S1(x) (x)
#define S4(x) (x)
#endif
