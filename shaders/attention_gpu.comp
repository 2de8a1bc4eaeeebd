#version 450
// attention_gpu.comp: fused scaled-dot-product attention for GPUs, with the
// keys of each query split over S invocations (split-K flash attention inside
// one workgroup); the T×T scores never leave registers.
//
// Math, layout, bindings and push constants: exactly as attention.comp
//   s_j = scale · Q[b,t,h]·K[b,j,h];  out[b,t,h] = Σ_j softmax(s)_j · V[b,j,h]
//   bindings 0 qkv float[B·T·3·H·DH] (read), 1 out float[B·T·H·DH] (write)
//   push     uint T, H; float scale
// spec constants:   0 DH  head size, a multiple of 4 (default 64)
//                   1 Q   queries per workgroup (default 32)
//                   2 S   invocations sharing one query's keys (default 8)
//                   3 WG  local_size_x, must equal Q·S (default 256)
// dispatch:         (ceil(T / Q), H, B)
// Buffers must start 16-byte aligned (vec4 access).
//
// Invocation i works on query i % Q and on keys j ≡ i / Q (mod S), keeping
// an online softmax (running max m, sum l, accumulator o) over its keys in
// blocks of 4. A warp holds one split, so its K and V loads are the same
// address in every lane (broadcast). The S partial results of a query are
// then merged in shared memory: M = max m, o = Σ o·exp(m − M),
// l = Σ l·exp(m − M), out = o / l. Splitting the keys gives B·H·T·S
// invocations, enough to fill a large GPU even for one image.

layout(local_size_x_id = 3) in;
layout(constant_id = 0) const uint DH = 64;
layout(constant_id = 1) const uint Q = 32;
layout(constant_id = 2) const uint S = 8;
layout(constant_id = 3) const uint WG = 256;

layout(set = 0, binding = 0) readonly buffer QKV { vec4 qkv[]; };
layout(set = 0, binding = 1) writeonly buffer Out { vec4 dst[]; };
layout(push_constant) uniform Push { uint T, H; float scale; } p;

const uint D4 = DH / 4;
const uint KB = 4;
const float NEG = -3.0e38;

shared float sm[S * Q];
shared float sl[S * Q];
shared vec4 so[Q * D4];

void main() {
    uint b = gl_WorkGroupID.z, h = gl_WorkGroupID.y;
    uint lid = gl_LocalInvocationID.x;
    uint qi = lid % Q, sp = lid / Q;
    uint t = gl_WorkGroupID.x * Q + qi;
    uint rowStride = 3u * p.H * D4;
    uint base = b * p.T * rowStride + h * D4;
    uint koff = p.H * D4, voff = 2u * p.H * D4;

    vec4 q[D4];
    vec4 o[D4];
    uint tq = min(t, p.T - 1u);
    for (uint d = 0; d < D4; d++) {
        q[d] = qkv[base + tq * rowStride + d] * p.scale;
        o[d] = vec4(0.0);
    }
    float m = NEG, l = 0.0;

    // Keys sp, sp + S, sp + 2S, ... in blocks of KB.
    for (uint j0 = sp; j0 < p.T; j0 += S * KB) {
        float s[KB];
        float mb = m;
        for (uint kb = 0; kb < KB; kb++) {
            uint j = j0 + kb * S;
            uint kbase = base + min(j, p.T - 1u) * rowStride + koff;
            float acc = 0.0;
            for (uint d = 0; d < D4; d++) acc += dot(q[d], qkv[kbase + d]);
            s[kb] = j < p.T ? acc : NEG;
            mb = max(mb, s[kb]);
        }
        float corr = exp(m - mb);
        m = mb;
        l *= corr;
        for (uint d = 0; d < D4; d++) o[d] *= corr;
        for (uint kb = 0; kb < KB; kb++) {
            uint j = j0 + kb * S;
            float pj = exp(s[kb] - mb);
            l += pj;
            uint vbase = base + min(j, p.T - 1u) * rowStride + voff;
            for (uint d = 0; d < D4; d++) o[d] += pj * qkv[vbase + d];
        }
    }

    // Merge the S partial softmaxes of each query.
    sm[sp * Q + qi] = m;
    for (uint e = lid; e < Q * D4; e += WG) so[e] = vec4(0.0);
    barrier();
    float M = NEG;
    for (uint r = 0; r < S; r++) M = max(M, sm[r * Q + qi]);
    float corr = exp(m - M);
    sl[sp * Q + qi] = l * corr;
    for (uint r = 0; r < S; r++) {
        if (sp == r) {
            for (uint d = 0; d < D4; d++) so[qi * D4 + d] += o[d] * corr;
        }
        barrier();
    }
    float L = 0.0;
    for (uint r = 0; r < S; r++) L += sl[r * Q + qi];
    if (t < p.T) {
        float inv = 1.0 / L;
        uint obase = (b * p.T + t) * (p.H * D4) + h * D4;
        for (uint d = sp; d < D4; d += S) dst[obase + d] = so[qi * D4 + d] * inv;
    }
}
