#version 450
// attention_regblock.comp: fused scaled-dot-product attention, one (batch, head, block
// of queries) per workgroup; the T×T scores never leave registers.
//
// Math:  for batch b, head h, query t:
//          s_j  = scale · Q[b,t,h]·K[b,j,h]           (j < T)
//          out[b,t,h] = Σ_j softmax(s)_j · V[b,j,h]    (max-subtracted softmax)
// Layout: qkv row b·T+t holds [q | k | v], each H·DH wide, head h at columns
//         h·DH.. of each part (the packed output of one fused QKV matmul);
//         out row b·T+t holds the heads merged: head h at columns h·DH..
// bindings (set 0): 0 qkv float[B·T·3·H·DH] (read)
//                   1 out float[B·T·H·DH]   (write)
// push constants:   uint T, H; float scale
// spec constants:   0 DH    head size, a multiple of 4 (default 64)
//                   1 QB    queries per invocation (default 4)
//                   2 LANES local_size_x (default 8)
//                   3 KB    keys per softmax block (default 8)
// dispatch:         (ceil(T / (LANES·QB)), H, B)
// Buffers must start 16-byte aligned (vec4 access).
// fp16 build (-DFP16, attention_regblock_f16.spv; f16.glsl): qkv and out
// are fp16 (8-byte aligned), converted to fp32 as loaded; scores, softmax
// and sums are fp32, out is rounded to fp16 once.
//
// Online (flash-style) softmax over blocks of KB keys: for each block the
// scores of the lane's QB queries are computed in registers, the running max
// m is raised to the block max, the running sum l and the output accumulator
// o are rescaled by exp(m_old − m_new) once per block, then o += exp(s − m)·V.
// Finally out = o / l. Every K and V load is the same address in all lanes of
// a workgroup (uniform; on lavapipe such loads measured about twice as cheap
// as per-lane ones), and each load feeds QB·4 FMAs. Queries past T are clamped for loads and not stored; keys
// past T get score −3e38 (exp → 0), so T needs no relation to any block size.

#extension GL_GOOGLE_include_directive : require
#include "f16.glsl"

layout(local_size_x_id = 2) in;
layout(constant_id = 0) const uint DH = 64;
layout(constant_id = 1) const uint QB = 4;
layout(constant_id = 2) const uint LANES = 8;
layout(constant_id = 3) const uint KB = 8;

layout(set = 0, binding = 0) readonly buffer QKV { ST4 qkv[]; };
layout(set = 0, binding = 1) writeonly buffer Out { ST4 dst[]; };
layout(push_constant) uniform Push { uint T, H; float scale; } p;

const uint D4 = DH / 4;
const float NEG = -3.0e38;

void main() {
    uint b = gl_WorkGroupID.z, h = gl_WorkGroupID.y;
    uint t0 = (gl_WorkGroupID.x * LANES + gl_LocalInvocationID.x) * QB;
    uint rowStride = 3u * p.H * D4;           // vec4 per qkv row
    uint base = b * p.T * rowStride + h * D4; // q of (b, row 0, h)
    uint koff = p.H * D4, voff = 2u * p.H * D4;

    vec4 q[QB][D4];
    vec4 o[QB][D4];
    float m[QB], l[QB];
    for (uint i = 0; i < QB; i++) {
        uint t = min(t0 + i, p.T - 1u);
        for (uint d = 0; d < D4; d++) {
            q[i][d] = F4(qkv[base + t * rowStride + d]) * p.scale;
            o[i][d] = vec4(0.0);
        }
        m[i] = NEG;
        l[i] = 0.0;
    }

    for (uint j0 = 0; j0 < p.T; j0 += KB) {
        float s[QB][KB];
        for (uint i = 0; i < QB; i++)
            for (uint kb = 0; kb < KB; kb++) s[i][kb] = 0.0;
        for (uint kb = 0; kb < KB; kb++) {
            uint j = min(j0 + kb, p.T - 1u);
            uint kbase = base + j * rowStride + koff;
            for (uint d = 0; d < D4; d++) {
                vec4 kv = F4(qkv[kbase + d]);
                for (uint i = 0; i < QB; i++) s[i][kb] += dot(q[i][d], kv);
            }
        }
        for (uint i = 0; i < QB; i++) {
            float mb = m[i];
            for (uint kb = 0; kb < KB; kb++) {
                if (j0 + kb >= p.T) s[i][kb] = NEG;
                mb = max(mb, s[i][kb]);
            }
            float corr = exp(m[i] - mb);
            m[i] = mb;
            float sum = 0.0;
            for (uint kb = 0; kb < KB; kb++) {
                s[i][kb] = exp(s[i][kb] - mb);
                sum += s[i][kb];
            }
            l[i] = l[i] * corr + sum;
            for (uint d = 0; d < D4; d++) o[i][d] *= corr;
        }
        for (uint kb = 0; kb < KB; kb++) {
            uint j = min(j0 + kb, p.T - 1u);
            uint vbase = base + j * rowStride + voff;
            for (uint d = 0; d < D4; d++) {
                vec4 vv = F4(qkv[vbase + d]);
                for (uint i = 0; i < QB; i++) o[i][d] += s[i][kb] * vv;
            }
        }
    }

    uint outStride = p.H * D4;
    for (uint i = 0; i < QB; i++) {
        uint t = t0 + i;
        if (t >= p.T) break;
        float inv = 1.0 / l[i];
        uint obase = (b * p.T + t) * outStride + h * D4;
        for (uint d = 0; d < D4; d++) dst[obase + d] = S4(o[i][d] * inv);
    }
}
