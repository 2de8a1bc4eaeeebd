#version 450
// matmul_coopmat.comp: C[M,N] = A[M,K]·W[K,N] (+ bias[N]) then an epilogue,
// on cooperative matrices (VK_KHR_cooperative_matrix: tensor cores): fp16 A
// and W, fp32 accumulators.
//
// Math:     C[m,n] = epi( Σ_k A[m,k]·W[k,n] + (bias ? bias[n] : 0) )
//           EPI 0: none   EPI 1: C = gelu(·) (exact erf, gelu.glsl)
//           EPI 2: C = R[m,n] + (·)   (residual add)
//           fp16 × fp16 products, fp32 accumulation; bias, GELU and the
//           residual add in fp32; C rounded to fp16 once when OUT16 is set.
// bindings (set 0): 0 A    float16_t[M*K] (read)
//                   1 W    float16_t[K*N] (read; the nn.Linear weight transposed)
//                   2 bias float[N]       (read; any buffer when flags bit 0 is clear)
//                   3 R    float[M*N]     (read; any buffer unless EPI == 2)
//                   4 C    float[M*N] or float16_t[M*N] (write, per OUT16)
// push constants:   uint M, N, K, flags (bit 0: add bias)
// spec constants:   0 EPI   epilogue (0 none, 1 gelu, 2 residual)
//                   1 CM, 2 CN, 3 CK  the cooperative-matrix shape (an
//                         fp16×fp16+fp32 subgroup shape the device lists:
//                         never assumed; lavapipe has 8×8×8, NVIDIA
//                         16×8×8, 16×8×16, 16×16×16)
//                   4 SGM, 5 SGN  subgroups of the workgroup along M and N
//                   6 RM,  7 RN   accumulators per subgroup along M and N
//                   8 BK    k staged per step (a multiple of CK and of 4)
//                   9 WG    local_size_x = SGM·SGN·subgroup size
//                  10 VEC   1 when K % 4 == 0, N % 4 == 0 and A, W start
//                           8-byte aligned: f16vec4 global loads; 0: scalar
//                  11 OUT16 1: C is fp16; 0: C is fp32
// dispatch:         (ceil(N/BN), ceil(M/BM), 1), BM = SGM·RM·CM, BN = SGN·RN·CN
//
// Each step the workgroup stages A[BM×BK] and W[BK×BN] as fp16 in shared
// memory (rows padded by 8 halves = 16 bytes: the alignment coopMatLoad
// needs, and a bank shift per row); elements past M, N, K are zeros, so no
// size has to be a multiple of a tile. The next step's tiles are fetched
// from global memory into registers before this step's multiply-adds, so
// their latency hides behind the tensor-core work. Subgroup (sm, sn) then owns the C
// block rows sm·RM·CM.., columns sn·RN·CN.. as RM×RN accumulators and runs
// BK/CK coopMatMulAdd steps on them. At the end the accumulators go through
// shared memory (fp32, padded by 4 floats) so that the whole workgroup
// applies the epilogue with plain bounds checks and coalesced stores; each
// element of R is read by the invocation that writes the same element of C,
// so C may alias R. Subgroups are identified by gl_SubgroupID; a pipeline
// without a required subgroup size runs subgroups of the device's
// subgroupSize (SPIR-V 1.3), which WG is built from.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#include "gelu.glsl"

layout(local_size_x_id = 9) in;
layout(constant_id = 0) const uint EPI = 0;
layout(constant_id = 1) const uint CM = 16;
layout(constant_id = 2) const uint CN = 16;
layout(constant_id = 3) const uint CK = 16;
layout(constant_id = 4) const uint SGM = 2;
layout(constant_id = 5) const uint SGN = 2;
layout(constant_id = 6) const uint RM = 2;
layout(constant_id = 7) const uint RN = 2;
layout(constant_id = 8) const uint BK = 32;
layout(constant_id = 9) const uint WG = 128;
layout(constant_id = 10) const uint VEC = 0;
layout(constant_id = 11) const uint OUT16 = 0;

layout(set = 0, binding = 0) readonly buffer A1 { float16_t a1[]; };
layout(set = 0, binding = 0) readonly buffer A4 { f16vec4 a4[]; };
layout(set = 0, binding = 1) readonly buffer W1 { float16_t w1[]; };
layout(set = 0, binding = 1) readonly buffer W4 { f16vec4 w4[]; };
layout(set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 3) readonly buffer Res { float res[]; };
layout(set = 0, binding = 4) writeonly buffer C32 { float c32[]; };
layout(set = 0, binding = 4) writeonly buffer C16 { float16_t c16[]; };
layout(push_constant) uniform Push { uint M, N, K, flags; } p;

const uint BM = SGM * RM * CM;
const uint BN = SGN * RN * CN;
const uint AST = BK + 8; // halves per staged A row
const uint WST = BN + 8; // halves per staged W row
const uint CST = BN + 4; // floats per staged C row
const uint BK4 = BK / 4;
const uint BN4 = BN / 4;
const uint NA = (BM * BK4 + WG - 1u) / WG; // A f16vec4 fetched per invocation and step
const uint NW = (BK * BN4 + WG - 1u) / WG; // W f16vec4 fetched per invocation and step

shared float16_t As[BM * AST];
shared float16_t Ws[BK * WST];
shared float Cs[BM * CST];

// loadA returns A[gm, gk..gk+3], zeros past M and K.
f16vec4 loadA(uint gm, uint gk) {
    f16vec4 v = f16vec4(0.0);
    if (gm >= p.M) return v;
    uint b = gm * p.K + gk;
    if (VEC == 1) {
        if (gk < p.K) v = a4[b / 4u];
    } else {
        for (uint q = 0; q < 4; q++) {
            if (gk + q < p.K) v[q] = a1[b + q];
        }
    }
    return v;
}

// loadW returns W[gk, gn..gn+3], zeros past K and N.
f16vec4 loadW(uint gk, uint gn) {
    f16vec4 v = f16vec4(0.0);
    if (gk >= p.K) return v;
    uint b = gk * p.N + gn;
    if (VEC == 1) {
        if (gn < p.N) v = w4[b / 4u];
    } else {
        for (uint q = 0; q < 4; q++) {
            if (gn + q < p.N) v[q] = w1[b + q];
        }
    }
    return v;
}

f16vec4 pa[NA]; // the next step's A, in flight
f16vec4 pw[NW]; // the next step's W, in flight

// fetch loads the tiles at k0 into pa, pw.
void fetch(uint row0, uint col0, uint k0) {
    uint t = gl_LocalInvocationID.x;
    for (uint i = 0; i < NA; i++) {
        uint e = t + i * WG;
        pa[i] = e < BM * BK4 ? loadA(row0 + e / BK4, k0 + 4u * (e % BK4)) : f16vec4(0.0);
    }
    for (uint i = 0; i < NW; i++) {
        uint e = t + i * WG;
        pw[i] = e < BK * BN4 ? loadW(k0 + e / BN4, col0 + 4u * (e % BN4)) : f16vec4(0.0);
    }
}

// stash stores pa, pw into the shared tiles.
void stash() {
    uint t = gl_LocalInvocationID.x;
    for (uint i = 0; i < NA; i++) {
        uint e = t + i * WG;
        if (e < BM * BK4) {
            uint m = e / BK4, kq = 4u * (e % BK4);
            for (uint q = 0; q < 4; q++) As[m * AST + kq + q] = pa[i][q];
        }
    }
    for (uint i = 0; i < NW; i++) {
        uint e = t + i * WG;
        if (e < BK * BN4) {
            uint k = e / BN4, nq = 4u * (e % BN4);
            for (uint q = 0; q < 4; q++) Ws[k * WST + nq + q] = pw[i][q];
        }
    }
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint sg = gl_SubgroupID;
    bool mma = sg < SGM * SGN; // subgroup-uniform
    uint sm = sg / SGN, sn = sg % SGN;
    uint row0 = gl_WorkGroupID.y * BM;
    uint col0 = gl_WorkGroupID.x * BN;

    coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator> acc[RM][RN];
    for (uint i = 0; i < RM; i++)
        for (uint j = 0; j < RN; j++) acc[i][j] = coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator>(0.0);

    fetch(row0, col0, 0u);
    stash();
    barrier();
    for (uint k0 = 0; k0 < p.K; k0 += BK) {
        bool more = k0 + BK < p.K; // uniform
        if (more) fetch(row0, col0, k0 + BK);
        if (mma) {
            for (uint kk = 0; kk < BK; kk += CK) {
                coopmat<float16_t, gl_ScopeSubgroup, CM, CK, gl_MatrixUseA> ma[RM];
                for (uint i = 0; i < RM; i++) {
                    coopMatLoad(ma[i], As, (sm * RM * CM + i * CM) * AST + kk, AST, gl_CooperativeMatrixLayoutRowMajor);
                }
                for (uint j = 0; j < RN; j++) {
                    coopmat<float16_t, gl_ScopeSubgroup, CK, CN, gl_MatrixUseB> mb;
                    coopMatLoad(mb, Ws, kk * WST + sn * RN * CN + j * CN, WST, gl_CooperativeMatrixLayoutRowMajor);
                    for (uint i = 0; i < RM; i++) acc[i][j] = coopMatMulAdd(ma[i], mb, acc[i][j]);
                }
            }
        }
        barrier(); // every subgroup is done with this step's tiles
        if (more) {
            stash();
            barrier();
        }
    }

    if (mma) {
        for (uint i = 0; i < RM; i++)
            for (uint j = 0; j < RN; j++)
                coopMatStore(acc[i][j], Cs, (sm * RM * CM + i * CM) * CST + sn * RN * CN + j * CN, CST,
                             gl_CooperativeMatrixLayoutRowMajor);
    }
    barrier();
    for (uint e = t; e < BM * BN; e += WG) {
        uint m = e / BN, n = e % BN;
        uint r = row0 + m, c = col0 + n;
        if (r >= p.M || c >= p.N) continue;
        float x = Cs[m * CST + n];
        if ((p.flags & 1u) != 0u) x += bias[c];
        if (EPI == 1) x = gelu(x);
        if (EPI == 2) x += res[r * p.N + c];
        if (OUT16 == 1) {
            c16[r * p.N + c] = float16_t(x);
        } else {
            c32[r * p.N + c] = x;
        }
    }
}
