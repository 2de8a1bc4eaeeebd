#version 450
// attention_probs.comp: the attention probabilities softmax(scale·q·kᵀ) of
// every (batch, head, query), written out whole: what the fused attention
// kernels compute and never store, for attention maps (deit.TapAttention).
// One invocation per query row.
//
// Math:  for batch b, head h, query t and key j < T:
//          s_j = scale · Q[b,t,h]·K[b,j,h]
//          out[b,h,t,j] = exp(s_j − max s) / Σ_i exp(s_i − max s)
// Layout: qkv row b·T+t holds [q | k | v], each H·DH wide, head h at columns
//         h·DH.. of each part (as attention_*.comp read it); out is
//         [B, H, T, T]: row (b·H + h)·T + t holds query t's T probabilities.
// bindings (set 0): 0 qkv float[B·T·3·H·DH] (read)
//                   1 out float[B·H·T·T]    (write; fp32 in both builds)
// push constants:   uint T, H; float scale
// spec constants:   0 DH    head size, a multiple of 4 (default 64)
//                   1 LANES local_size_x (default 64)
// dispatch:         (ceil(T / LANES), H, B)
// qkv must start 16-byte aligned (vec4 access); out 4-byte.
// fp16 build (-DFP16, attention_probs_f16.spv; f16.glsl): qkv is fp16
// (8-byte aligned), converted to fp32 as loaded; scores, softmax and out
// stay fp32.
//
// Three passes over the row in out: the scores (and their maximum), then
// exp(s − max) (and their sum), then the division. Every K load is the same
// address in all lanes of a workgroup (uniform). Queries past T do nothing.

#extension GL_GOOGLE_include_directive : require
#include "f16.glsl"

layout(local_size_x_id = 1) in;
layout(constant_id = 0) const uint DH = 64;
layout(constant_id = 1) const uint LANES = 64;

layout(set = 0, binding = 0) readonly buffer QKV { ST4 qkv[]; };
layout(set = 0, binding = 1) buffer Out { float dst[]; };
layout(push_constant) uniform Push { uint T, H; float scale; } p;

const uint D4 = DH / 4;

void main() {
    uint b = gl_WorkGroupID.z, h = gl_WorkGroupID.y;
    uint t = gl_WorkGroupID.x * LANES + gl_LocalInvocationID.x;
    uint rowStride = 3u * p.H * D4;           // vec4 per qkv row
    uint base = b * p.T * rowStride + h * D4; // q of (b, row 0, h)
    uint koff = p.H * D4;
    // Lanes past T compute row T−1 (uniform loads) and store nothing.
    bool live = t < p.T;
    uint tq = min(t, p.T - 1u);

    vec4 q[D4];
    for (uint d = 0; d < D4; d++) q[d] = F4(qkv[base + tq * rowStride + d]) * p.scale;

    uint obase = ((b * p.H + h) * p.T + tq) * p.T;
    float m = -3.0e38;
    for (uint j = 0; j < p.T; j++) {
        uint kbase = base + j * rowStride + koff;
        float s = 0.0;
        for (uint d = 0; d < D4; d++) s += dot(q[d], F4(qkv[kbase + d]));
        m = max(m, s);
        if (live) dst[obase + j] = s;
    }
    if (!live) return;
    float sum = 0.0;
    for (uint j = 0; j < p.T; j++) {
        float e = exp(dst[obase + j] - m);
        dst[obase + j] = e;
        sum += e;
    }
    float inv = 1.0 / sum;
    for (uint j = 0; j < p.T; j++) dst[obase + j] *= inv;
}
