#version 450
// matmul_gpu.comp: C[M,N] = A[M,K]·W[K,N] (+ bias[N]) then an epilogue, for
// real GPUs: shared-memory tiles with register blocking.
//
// Math, bindings and push constants: exactly as matmul_cpu.comp
//   bindings 0 A[M*K], 1 W[K*N], 2 bias[N], 3 R[M*N], 4 C[M*N] (write)
//   push     uint M, N, K, flags (bit 0: add bias)
// spec constants:   0 EPI  epilogue (0 none, 1 gelu, 2 residual)
//                   1 BM   rows of C per workgroup     (default 64)
//                   2 BN   columns of C per workgroup  (default 64)
//                   3 BK   k-slice staged in shared memory per step (default 16)
//                   4 TM   rows of C per invocation    (default 4)
//                   5 TN   columns of C per invocation (default 4)
//                   6 WG   local_size_x, must equal (BM/TM)·(BN/TN) (default 256)
// dispatch:         (ceil(N/BN), ceil(M/BM), 1)
//
// Each step stages A[BM×BK] (transposed, k-major) and W[BK×BN] in shared memory
// (zero-filled past M, N, K, so no size must be a tile multiple); every
// invocation then accumulates its TM×TN block from registers. Invocation t
// owns rows ty + (BM/TM)·i and columns tx + (BN/TN)·j (strided, so shared
// reads of a warp hit distinct banks and global stores are coalesced).
#extension GL_GOOGLE_include_directive : require
#include "gelu.glsl"

layout(local_size_x_id = 6) in;
layout(constant_id = 0) const uint EPI = 0;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const uint WG = 256;

layout(set = 0, binding = 0) readonly buffer A1 { float a[]; };
layout(set = 0, binding = 1) readonly buffer W1 { float w[]; };
layout(set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 3) readonly buffer Res { float res[]; };
layout(set = 0, binding = 4) writeonly buffer C1 { float c[]; };
layout(push_constant) uniform Push { uint M, N, K, flags; } p;

shared float As[BK * BM]; // As[k*BM + m]
shared float Ws[BK * BN]; // Ws[k*BN + n]

void main() {
    uint t = gl_LocalInvocationID.x;
    uint RX = BN / TN; // invocations along n
    uint tx = t % RX, ty = t / RX;
    uint row0 = gl_WorkGroupID.y * BM;
    uint col0 = gl_WorkGroupID.x * BN;

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;
    float ra[TM];
    float rw[TN];

    for (uint k0 = 0; k0 < p.K; k0 += BK) {
        // Stage A tile: element e → (m = e / BK, k = e % BK), consecutive
        // invocations read consecutive k of one A row.
        for (uint e = t; e < BM * BK; e += WG) {
            uint m = e / BK, k = e % BK;
            uint gm = row0 + m, gk = k0 + k;
            As[k * BM + m] = (gm < p.M && gk < p.K) ? a[gm * p.K + gk] : 0.0;
        }
        // Stage W tile: element e → (k = e / BN, n = e % BN).
        for (uint e = t; e < BK * BN; e += WG) {
            uint k = e / BN, n = e % BN;
            uint gk = k0 + k, gn = col0 + n;
            Ws[k * BN + n] = (gk < p.K && gn < p.N) ? w[gk * p.N + gn] : 0.0;
        }
        barrier();
        for (uint k = 0; k < BK; k++) {
            for (uint i = 0; i < TM; i++) ra[i] = As[k * BM + ty + i * (BM / TM)];
            for (uint j = 0; j < TN; j++) rw[j] = Ws[k * BN + tx + j * RX];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++) acc[i * TN + j] += ra[i] * rw[j];
        }
        barrier();
    }

    for (uint i = 0; i < TM; i++) {
        uint r = row0 + ty + i * (BM / TM);
        if (r >= p.M) break;
        for (uint j = 0; j < TN; j++) {
            uint col = col0 + tx + j * RX;
            if (col >= p.N) continue;
            float v = acc[i * TN + j];
            if ((p.flags & 1u) != 0u) v += bias[col];
            if (EPI == 1) v = gelu(v);
            if (EPI == 2) v += res[r * p.N + col];
            c[r * p.N + col] = v;
        }
    }
}
