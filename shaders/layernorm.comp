#version 450
// layernorm.comp: out[r,:] = (x − mean)·rsqrt(var + eps)·gamma + beta per row,
// one workgroup per row.
//
// Math:  mean = Σ x / D,  var = Σ (x − mean)² / D   (biased, two passes: the
//        mean is subtracted before squaring, so no cancellation for rows with a
//        large mean).
// bindings (set 0): 0 in    float[rows·D] (read)
//                   1 gamma float[D]      (read)
//                   2 beta  float[D]      (read)
//                   3 out   float[rows·D] (write)
// push constants:   uint rows, D; float eps
// spec constants:   0 WG  local_size_x, a power of two (CPU 8, GPU 256)
// dispatch:         (X, Y, 1), X·Y ≥ rows; workgroup (x, y) normalizes row
//                   y·X + x, rows past `rows` return at once.
// fp16 build (-DFP16, layernorm_f16.spv; f16.glsl): out is fp16, rounded
// once; in, gamma, beta and the statistics stay fp32 (in is the fp32
// residual stream).
// Each invocation sums a strided slice of the row; partial sums are combined
// by a shared-memory tree (log2 WG barrier steps).

#extension GL_GOOGLE_include_directive : require
#include "f16.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(set = 0, binding = 0) readonly buffer In { float src[]; };
layout(set = 0, binding = 1) readonly buffer Gamma { float gamma[]; };
layout(set = 0, binding = 2) readonly buffer Beta { float beta[]; };
layout(set = 0, binding = 3) writeonly buffer Out { ST1 dst[]; };
layout(push_constant) uniform Push { uint rows, D; float eps; } p;

shared float red[WG];

float reduceSum(float v) {
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
        if (t < s) red[t] += red[t + s];
        barrier();
    }
    float r = red[0];
    barrier(); // red is reused by the next reduction
    return r;
}

void main() {
    uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (row >= p.rows) return; // uniform per workgroup: no barrier divergence
    uint t = gl_LocalInvocationID.x;
    uint base = row * p.D;

    float sum = 0.0;
    for (uint i = t; i < p.D; i += WG) sum += src[base + i];
    float mean = reduceSum(sum) / float(p.D);

    float sq = 0.0;
    for (uint i = t; i < p.D; i += WG) {
        float d = src[base + i] - mean;
        sq += d * d;
    }
    float rstd = inversesqrt(reduceSum(sq) / float(p.D) + p.eps);

    for (uint i = t; i < p.D; i += WG) {
        dst[base + i] = S1((src[base + i] - mean) * rstd * gamma[i] + beta[i]);
    }
}
