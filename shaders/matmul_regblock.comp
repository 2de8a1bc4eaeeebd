#version 450
// matmul_regblock.comp: C[M,N] = A[M,K]·W[K,N] (+ bias[N]) then an epilogue, for
// CPU Vulkan drivers (lavapipe/llvmpipe).
//
// Math:     C[m,n] = epi( Σ_k A[m,k]·W[k,n] + (bias ? bias[n] : 0) )
//           EPI 0: none   EPI 1: C = gelu(·) (exact erf, gelu.glsl)
//           EPI 2: C = R[m,n] + (·)   (residual add)
// bindings (set 0): 0 A    float[M*K]  (read)
//                   1 W    float[K*N]  (read; the nn.Linear weight transposed)
//                   2 bias float[N]    (read; any buffer when flags bit 0 is clear)
//                   3 R    float[M*N]  (read; any buffer unless EPI == 2)
//                   4 C    float[M*N]  (write)
// push constants:   uint M, N, K, flags (bit 0: add bias)
// spec constants:   0 EPI      epilogue (0 none, 1 gelu, 2 residual)
//                   1 ALIGNED  1 when K % 4 == 0 and N % 4 == 0 (and every
//                              binding starts 16-byte aligned): vec4 loads/stores;
//                              0: scalar loads, any M, N, K.
// dispatch:         (ceil(N/64), ceil(M/8), 1)
// fp16 build (-DFP16, matmul_regblock_f16.spv; f16.glsl): A and W are fp16
// (ALIGNED needs 8-byte aligned A and W), bias and R stay fp32, and
//                   2 OUT16    1: C is fp16 (rounded once, after the
//                              epilogue); 0: C is fp32
// Products and sums are fp32 in both builds.
//
// Why this shape: llvmpipe runs a subgroup of 8 invocations as one 8-wide
// SIMD program and turns every buffer load into a per-lane loop with bounds
// checks, so loads (not FMAs) set the speed. One workgroup is one 8-lane
// subgroup; lane l owns an 8-row × 8-column block of C (rows 8·wy.., columns
// 64·wx + 8·l ..) in registers. Per 4 values of k a lane does 8 vec4 loads of
// A (the same addresses in every lane: uniform, so cheap) and 8 vec4 loads of
// W for 256 FMAs. No shared memory, no barriers. Rows/columns past M/N are
// clamped for loads and masked for stores, so no size needs to be a
// multiple of the tile.
#extension GL_GOOGLE_include_directive : require
#include "f16.glsl"
#include "gelu.glsl"

layout(local_size_x = 8) in;
layout(constant_id = 0) const uint EPI = 0;
layout(constant_id = 1) const uint ALIGNED = 0;

layout(set = 0, binding = 0) readonly buffer A1 { ST1 a1[]; };
layout(set = 0, binding = 0) readonly buffer A4 { ST4 a4[]; };
layout(set = 0, binding = 1) readonly buffer W1 { ST1 w1[]; };
layout(set = 0, binding = 1) readonly buffer W4 { ST4 w4[]; };
layout(set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 3) readonly buffer Res { float res[]; };
layout(set = 0, binding = 4) writeonly buffer C1 { float c1[]; };
#ifdef FP16
layout(constant_id = 2) const uint OUT16 = 0;
layout(set = 0, binding = 4) writeonly buffer C16 { float16_t c16[]; };
#define STORE_C(i, v) if (OUT16 == 1) c16[i] = float16_t(v); else c1[i] = (v)
#else
#define STORE_C(i, v) c1[i] = (v)
#endif
layout(push_constant) uniform Push { uint M, N, K, flags; } p;

const uint TM = 8;  // rows of C per lane (and per workgroup)
const uint TN4 = 2; // vec4 columns of C per lane

float epilogue(float v, uint r, uint col) {
    if ((p.flags & 1u) != 0u) v += bias[col];
    if (EPI == 1) v = gelu(v);
    if (EPI == 2) v += res[r * p.N + col];
    return v;
}

// loadA returns A[r, k..k+3], zero past K (scalar path).
vec4 loadA(uint r, uint k) {
    uint base = r * p.K;
    vec4 v = vec4(0.0);
    for (uint q = 0; q < 4; q++) {
        if (k + q < p.K) v[q] = F1(a1[base + k + q]);
    }
    return v;
}

// loadW returns W[k, n..n+3] with k and columns clamped into range (scalar path).
vec4 loadW(uint k, uint n) {
    uint base = min(k, p.K - 1) * p.N;
    return vec4(F1(w1[base + min(n, p.N - 1)]), F1(w1[base + min(n + 1, p.N - 1)]),
                F1(w1[base + min(n + 2, p.N - 1)]), F1(w1[base + min(n + 3, p.N - 1)]));
}

void main() {
    uint lane = gl_LocalInvocationID.x;
    uint row0 = gl_WorkGroupID.y * TM;
    uint col0 = (gl_WorkGroupID.x * 8u + lane) * (TN4 * 4u);

    vec4 acc[TM][TN4];
    for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

    if (ALIGNED == 1) {
        uint K4 = p.K / 4u, N4 = p.N / 4u;
        uint arow[TM];
        for (uint i = 0; i < TM; i++) arow[i] = min(row0 + i, p.M - 1u) * K4;
        uint wc[TN4];
        for (uint j = 0; j < TN4; j++) wc[j] = min(col0 / 4u + j, N4 - 1u);
        for (uint k4 = 0; k4 < K4; k4++) {
            vec4 a[TM];
            for (uint i = 0; i < TM; i++) a[i] = F4(a4[arow[i] + k4]);
            for (uint kk = 0; kk < 4; kk++) {
                uint wr = (k4 * 4u + kk) * N4;
                for (uint j = 0; j < TN4; j++) {
                    vec4 w = F4(w4[wr + wc[j]]);
                    for (uint i = 0; i < TM; i++) acc[i][j] += a[i][kk] * w;
                }
            }
        }
    } else {
        for (uint k = 0; k < p.K; k += 4u) {
            vec4 a[TM];
            for (uint i = 0; i < TM; i++) a[i] = loadA(min(row0 + i, p.M - 1u), k);
            for (uint kk = 0; kk < 4; kk++) {
                for (uint j = 0; j < TN4; j++) {
                    vec4 w = loadW(k + kk, col0 + j * 4u);
                    for (uint i = 0; i < TM; i++) acc[i][j] += a[i][kk] * w;
                }
            }
        }
    }

    for (uint i = 0; i < TM; i++) {
        uint r = row0 + i;
        if (r >= p.M) break;
        for (uint j = 0; j < TN4; j++) {
            for (uint q = 0; q < 4; q++) {
                uint col = col0 + j * 4u + q;
                if (col < p.N) {
                    STORE_C(r * p.N + col, epilogue(acc[i][j][q], r, col));
                }
            }
        }
    }
}
