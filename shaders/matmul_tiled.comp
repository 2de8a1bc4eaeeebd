#version 450
// matmul_tiled.comp: C[M,N] = A[M,K]·W[K,N] (+ bias[N]) then an epilogue, for
// real GPUs: double-buffered shared-memory tiles, register blocking with
// vec4 shared loads, and an optional split of K inside the workgroup.
//
// Math, bindings and push constants: exactly as matmul_regblock.comp
//   bindings 0 A[M*K], 1 W[K*N], 2 bias[N], 3 R[M*N], 4 C[M*N] (write)
//   push     uint M, N, K, flags (bit 0: add bias)
// spec constants:   0 EPI  epilogue (0 none, 1 gelu, 2 residual)
//                   1 BM   rows of C per workgroup     (multiple of TM)
//                   2 BN   columns of C per workgroup  (multiple of TN)
//                   3 BK   k staged in shared memory per step (multiple of 4·S)
//                   4 TM   rows of C per invocation    (multiple of 4)
//                   5 TN   columns of C per invocation (multiple of 4)
//                   6 WG   local_size_x = S·(BM/TM)·(BN/TN); S, the number of
//                          K slices, follows from it (1: no split)
//                   7 VEC  1 when K % 4 == 0, N % 4 == 0 and A, W start
//                          16-byte aligned: vec4 global loads; 0: scalar
// dispatch:         (ceil(N/BN), ceil(M/BM), 1)
// fp16 build (-DFP16, matmul_tiled_f16.spv; f16.glsl): A and W are fp16
// (VEC needs 8-byte aligned A and W), converted to fp32 as they are fetched,
// so shared memory, products and sums are fp32 as in the fp32 build; bias and
// R stay fp32, and
//                   8 OUT16 1: C is fp16 (rounded once, after the epilogue);
//                           0: C is fp32
//
// Each step the whole workgroup stages A[BM×BK] (k-major: As[k][m]) and
// W[BK×BN] in one of two shared buffers; while it computes on one buffer it
// has already fetched the next step's tile from global memory into registers,
// and stores it into the other buffer afterwards: one barrier per step.
// Elements past M, N, K are staged as zeros, so no size must be a tile
// multiple. The invocations form S slices of (BM/TM)·(BN/TN); slice s
// multiplies k = s·BK/S .. (s+1)·BK/S − 1 of every step. An invocation
// (tx, ty) of a slice owns rows c·BM/(TM/4) + 4·ty + 0..3 (c < TM/4) and
// columns c·BN/(TN/4) + 4·tx + 0..3 (c < TN/4): per k it reads TM/4 + TN/4
// vec4 from shared memory (a quarter warp reads 128 consecutive bytes, no
// bank conflicts) for TM·TN FMAs. With S > 1 the slices' partial sums meet in
// shared memory (reusing the staging buffers) and are added in slice order;
// this reorders the fp32 sum over k only. The epilogue adds bias, applies
// GELU or adds R; each element of R is read only by the invocation that
// writes the same element of C, so C may alias R.
#extension GL_GOOGLE_include_directive : require
#include "f16.glsl"
#include "gelu.glsl"

layout(local_size_x_id = 6) in;
layout(constant_id = 0) const uint EPI = 0;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const uint WG = 256;
layout(constant_id = 7) const uint VEC = 0;

layout(set = 0, binding = 0) readonly buffer A1 { ST1 a1[]; };
layout(set = 0, binding = 0) readonly buffer A4 { ST4 a4[]; };
layout(set = 0, binding = 1) readonly buffer W1 { ST1 w1[]; };
layout(set = 0, binding = 1) readonly buffer W4 { ST4 w4[]; };
layout(set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 3) readonly buffer Res { float res[]; };
layout(set = 0, binding = 4) writeonly buffer C1 { float c1[]; };
#ifdef FP16
layout(constant_id = 8) const uint OUT16 = 0;
layout(set = 0, binding = 4) writeonly buffer C16 { float16_t c16[]; };
#define STORE_C(i, v) if (OUT16 == 1) c16[i] = float16_t(v); else c1[i] = (v)
#else
#define STORE_C(i, v) c1[i] = (v)
#endif
layout(push_constant) uniform Push { uint M, N, K, flags; } p;

const uint RX = BN / TN;      // invocations of a slice along n
const uint RY = BM / TM;      // invocations of a slice along m
const uint SL = RX * RY;      // invocations per slice
const uint S = WG / SL;       // K slices
const uint KS = BK / S;       // k per slice per step
const uint BM4 = BM / 4;
const uint BN4 = BN / 4;
const uint BK4 = BK / 4;
const uint TM4 = TM / 4;
const uint TN4 = TN / 4;
const uint ATILE = BK * BM4;  // vec4 per staged A tile
const uint WTILE = BK * BN4;  // vec4 per staged W tile
const uint STAGE = 2u * (ATILE + WTILE);
const uint RED = S > 1u ? S * BM * BN4 : 0u; // vec4 of split-K partials
const uint SMEM = STAGE > RED ? STAGE : RED;
const uint NA = (BM * BK4 + WG - 1u) / WG; // A vec4 fetched per invocation
// A vec4 e of a step holds row m = (e/G) % BM, k = 4·(e%G + G·(e/(G·BM))):
// pairs of invocations read one 32-byte sector of a row, and the transposed
// shared stores of a warp hit 16 rows × 2 k, at most 2-way bank conflicts.
const uint G = BK4 % 2u == 0u ? 2u : 1u;
const uint NW = (BK * BN4 + WG - 1u) / WG; // W vec4 fetched per invocation

shared vec4 sm[SMEM];

vec4 pa[NA]; // next A tile, in flight
vec4 pw[NW]; // next W tile, in flight

// fetch loads the tile at k0 into pa, pw: A as 4 consecutive k of one row
// (see G), W as 4 consecutive columns of one k, zero past M, N, K.
void fetch(uint row0, uint col0, uint k0) {
    uint t = gl_LocalInvocationID.x;
    for (uint i = 0; i < NA; i++) {
        uint e = t + i * WG;
        uint gm = row0 + (e / G) % BM, gk = k0 + 4u * (e % G + G * (e / (G * BM)));
        vec4 v = vec4(0.0);
        if (e < BM * BK4 && gm < p.M) {
            uint b = gm * p.K + gk;
            if (VEC == 1) {
                if (gk < p.K) v = F4(a4[b / 4u]);
            } else {
                for (uint q = 0; q < 4; q++) {
                    if (gk + q < p.K) v[q] = F1(a1[b + q]);
                }
            }
        }
        pa[i] = v;
    }
    for (uint i = 0; i < NW; i++) {
        uint e = t + i * WG;
        uint gk = k0 + e / BN4, gn = col0 + 4u * (e % BN4);
        vec4 v = vec4(0.0);
        if (e < BK * BN4 && gk < p.K) {
            uint b = gk * p.N + gn;
            if (VEC == 1) {
                if (gn < p.N) v = F4(w4[b / 4u]);
            } else {
                for (uint q = 0; q < 4; q++) {
                    if (gn + q < p.N) v[q] = F1(w1[b + q]);
                }
            }
        }
        pw[i] = v;
    }
}

// stash stores pa, pw into shared buffer buf: A transposed to As[k][m].
void stash(uint buf) {
    uint t = gl_LocalInvocationID.x;
    uint base = buf * (ATILE + WTILE);
    for (uint i = 0; i < NA; i++) {
        uint e = t + i * WG;
        if (e < BM * BK4) {
            uint m = (e / G) % BM, k = 4u * (e % G + G * (e / (G * BM)));
            for (uint q = 0; q < 4; q++) sm[base + (k + q) * BM4 + m / 4u][m % 4u] = pa[i][q];
        }
    }
    for (uint i = 0; i < NW; i++) {
        uint e = t + i * WG;
        if (e < BK * BN4) sm[base + ATILE + e] = pw[i]; // e = k·BN4 + n/4
    }
}

// store4 writes C[r, col..col+3] (those below N) after the epilogue.
void store4(uint r, uint col, vec4 v) {
    for (uint q = 0; q < 4; q++) {
        uint n = col + q;
        if (n < p.N) {
            float x = v[q];
            if ((p.flags & 1u) != 0u) x += bias[n];
            if (EPI == 1) x = gelu(x);
            if (EPI == 2) x += res[r * p.N + n];
            STORE_C(r * p.N + n, x);
        }
    }
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint s = t / SL, lt = t % SL;
    uint tx = lt % RX, ty = lt / RX;
    uint row0 = gl_WorkGroupID.y * BM;
    uint col0 = gl_WorkGroupID.x * BN;

    vec4 acc[TM][TN4];
    for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

    fetch(row0, col0, 0u);
    stash(0u);
    barrier();
    uint cur = 0u;
    for (uint k0 = 0; k0 < p.K; k0 += BK) {
        bool more = k0 + BK < p.K;
        if (more) fetch(row0, col0, k0 + BK);
        uint abase = cur * (ATILE + WTILE);
        uint wbase = abase + ATILE;
        for (uint kk = 0; kk < KS; kk++) { // constant trip count: unrolled
            uint k = s * KS + kk;
            vec4 av[TM4];
            vec4 bw[TN4];
            for (uint c = 0; c < TM4; c++) av[c] = sm[abase + k * BM4 + c * RY + ty];
            for (uint c = 0; c < TN4; c++) bw[c] = sm[wbase + k * BN4 + c * RX + tx];
            for (uint c = 0; c < TM4; c++)
                for (uint q = 0; q < 4; q++)
                    for (uint j = 0; j < TN4; j++) acc[4u * c + q][j] += av[c][q] * bw[j];
        }
        if (more) stash(cur ^ 1u);
        barrier();
        cur ^= 1u;
    }

    if (S == 1) {
        for (uint i = 0; i < TM; i++) {
            uint r = row0 + (i / 4u) * (4u * RY) + 4u * ty + i % 4u;
            if (r >= p.M) continue;
            for (uint j = 0; j < TN4; j++) store4(r, col0 + j * (4u * RX) + 4u * tx, acc[i][j]);
        }
        return;
    }
    // Split K: every slice parks its partial block (the staging buffers are
    // free: the loop ended on a barrier), then the whole workgroup adds the
    // slices in order and stores row-contiguous vec4s.
    for (uint i = 0; i < TM; i++) {
        uint m = (i / 4u) * (4u * RY) + 4u * ty + i % 4u;
        for (uint j = 0; j < TN4; j++) sm[(s * BM + m) * BN4 + j * RX + tx] = acc[i][j];
    }
    barrier();
    for (uint e = t; e < BM * BN4; e += WG) {
        uint m = e / BN4, n4 = e % BN4;
        vec4 v = sm[e];
        for (uint q = 1; q < S; q++) v += sm[q * BM * BN4 + e];
        uint r = row0 + m;
        if (r < p.M) store4(r, col0 + 4u * n4, v);
    }
}
