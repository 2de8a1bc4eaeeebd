#version 450
// attention_coopmat.comp: fused scaled-dot-product attention, flash style,
// with Q·Kᵀ and P·V on cooperative matrices (VK_KHR_cooperative_matrix): one
// workgroup owns BQ queries of one (batch, head) and streams the keys through
// shared memory in tiles of BKV; the T×T scores never reach global memory.
//
// Math:  s_j = scale · Q[b,t,h]·K[b,j,h];  out[b,t,h] = Σ_j softmax(s)_j · V[b,j,h]
// Layout as attention_regblock.comp: qkv row b·T+t holds [q | k | v], each
//        H·DH wide, head h at columns h·DH..; out row b·T+t holds the heads
//        merged.
// Precision: Q, K, V, P fp16 (cooperative-matrix inputs); scores, the online
//        softmax (running max m, running sum l) and the output accumulator
//        fp32; P = exp(s − m) is rounded to fp16 for P·V and l sums the
//        rounded values, so out = Σ P̃·V / Σ P̃ is a true weighted mean; out
//        is rounded to fp16 once.
// bindings (set 0): 0 qkv float16_t[B·T·3·H·DH] (read, 8-byte aligned)
//                   1 out float16_t[B·T·H·DH]   (write, 8-byte aligned)
// push constants:   uint T, H; float scale
// spec constants:   0 DH  head size (a multiple of CK, of CN and of 4)
//                   1 CM, 2 CN, 3 CK  the cooperative-matrix shape (an
//                         fp16×fp16+fp32 subgroup shape the device lists)
//                   4 BQ  queries per workgroup (a multiple of CM)
//                   5 BKV keys per tile (a multiple of CN and of CK)
//                   6 WG  local_size_x (a multiple of the subgroup size)
// dispatch:         (ceil(T / BQ), H, B)
// Shared memory (bytes), halves rows padded by 8, float rows by 4:
//   2·BQ·(DH+8) + 4·BKV·(DH+8) + 4·BQ·(BKV+4) + 2·BQ·(BKV+8) + 4·BQ·(DH+4) + 8·BQ
//   + 4·BQ·LPR, LPR = max(1, WG/BQ)
// (ops_attention_coopmat.go mirrors this).
//
// Per key tile:
//   1. K and V rows of the tile go to shared memory (keys past T are zeros);
//   2. S = Q·Kᵀ: (BQ/CM)·(BKV/CN) accumulator tiles shared out round-robin
//      over the subgroups (gl_SubgroupID, gl_NumSubgroups: any subgroup count
//      works), DH/CK multiply-adds each, stored to shared memory;
//   3. LPR = WG/BQ invocations per query row (each a strided share of the
//      row's keys and dims; partial maxima and sums meet in shared memory and
//      are combined in lane order, so every lane agrees bit for bit): scale,
//      mask keys past T to −3e38, raise the running max m, P̃ = fp16(exp(s −
//      m)), l = l·corr + Σ P̃, and the row's output accumulator O (fp32,
//      shared) is scaled by corr = exp(m_old − m);
//   4. O += P̃·V: (BQ/CM)·(DH/CN) tiles, each loaded from O, BKV/CK
//      multiply-adds, stored back.
// Finally out = O / l for rows below T. Queries past T are zero rows and key
// 0 is in the first tile, so every running max is finite after it and no
// NaN can arise from the padding. All barriers are reached by the whole
// workgroup (uniform loop bounds).
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require

layout(local_size_x_id = 6) in;
layout(constant_id = 0) const uint DH = 64;
layout(constant_id = 1) const uint CM = 16;
layout(constant_id = 2) const uint CN = 16;
layout(constant_id = 3) const uint CK = 16;
layout(constant_id = 4) const uint BQ = 32;
layout(constant_id = 5) const uint BKV = 32;
layout(constant_id = 6) const uint WG = 128;

layout(set = 0, binding = 0) readonly buffer QKV { f16vec4 qkv[]; };
layout(set = 0, binding = 1) writeonly buffer Out { f16vec4 dst[]; };
layout(push_constant) uniform Push { uint T, H; float scale; } p;

const uint D4 = DH / 4;
const uint HST = DH + 8;  // halves per staged Q, K, V row
const uint SST = BKV + 4; // floats per score row
const uint PST = BKV + 8; // halves per probability row
const uint OST = DH + 4;  // floats per output row
const float NEG = -3.0e38;
const uint LPR = WG >= BQ ? WG / BQ : 1u; // softmax lanes per query row
const uint RPP = WG / LPR;                 // query rows per softmax pass

shared float16_t Qs[BQ * HST];
shared float16_t Ks[BKV * HST];
shared float16_t Vs[BKV * HST];
shared float Ss[BQ * SST];
shared float16_t Ps[BQ * PST];
shared float Os[BQ * OST];
shared float mrow[BQ], lrow[BQ];
shared float red[BQ * LPR]; // per-lane partial row maxima, then sums

void main() {
    uint b = gl_WorkGroupID.z, h = gl_WorkGroupID.y;
    uint tid = gl_LocalInvocationID.x;
    uint sg = gl_SubgroupID, nsg = gl_NumSubgroups;
    uint q0 = gl_WorkGroupID.x * BQ;
    uint T = p.T;
    uint rowStride = 3u * p.H * D4; // f16vec4 per qkv row
    uint base = b * T * rowStride + h * D4;
    uint koff = p.H * D4, voff = 2u * p.H * D4;

    for (uint e = tid; e < BQ * D4; e += WG) {
        uint row = e / D4, d = 4u * (e % D4), t = q0 + row;
        f16vec4 v = t < T ? qkv[base + t * rowStride + d / 4u] : f16vec4(0.0);
        for (uint q = 0; q < 4; q++) Qs[row * HST + d + q] = v[q];
    }
    for (uint e = tid; e < BQ * OST; e += WG) Os[e] = 0.0;
    for (uint r = tid; r < BQ; r += WG) {
        mrow[r] = NEG;
        lrow[r] = 0.0;
    }

    const uint ST = (BQ / CM) * (BKV / CN); // score tiles
    const uint OT = (BQ / CM) * (DH / CN);  // output tiles
    uint tiles = (T + BKV - 1) / BKV;
    for (uint tile = 0; tile < tiles; tile++) {
        uint j0 = tile * BKV;
        // 1. Stage K and V.
        for (uint e = tid; e < BKV * D4; e += WG) {
            uint row = e / D4, d = 4u * (e % D4), j = j0 + row;
            f16vec4 kv = f16vec4(0.0), vv = f16vec4(0.0);
            if (j < T) {
                uint gi = base + j * rowStride + d / 4u;
                kv = qkv[gi + koff];
                vv = qkv[gi + voff];
            }
            for (uint q = 0; q < 4; q++) {
                Ks[row * HST + d + q] = kv[q];
                Vs[row * HST + d + q] = vv[q];
            }
        }
        barrier();

        // 2. S = Q·Kᵀ (K rows read column-major are Kᵀ).
        for (uint st = sg; st < ST; st += nsg) {
            uint i = st / (BKV / CN), j = st % (BKV / CN);
            coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator> s =
                coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator>(0.0);
            for (uint d = 0; d < DH; d += CK) {
                coopmat<float16_t, gl_ScopeSubgroup, CM, CK, gl_MatrixUseA> qa;
                coopmat<float16_t, gl_ScopeSubgroup, CK, CN, gl_MatrixUseB> kb;
                coopMatLoad(qa, Qs, i * CM * HST + d, HST, gl_CooperativeMatrixLayoutRowMajor);
                coopMatLoad(kb, Ks, j * CN * HST + d, HST, gl_CooperativeMatrixLayoutColumnMajor);
                s = coopMatMulAdd(qa, kb, s);
            }
            coopMatStore(s, Ss, i * CM * SST + j * CN, SST, gl_CooperativeMatrixLayoutRowMajor);
        }
        barrier();

        // 3. Online softmax, LPR lanes per query row.
        uint lane = tid % LPR, rr = tid / LPR;
        for (uint r0 = 0; r0 < BQ; r0 += RPP) { // uniform: barriers inside
            uint r = r0 + rr;
            bool live = rr < RPP && r < BQ;
            float mx = NEG;
            if (live) {
                for (uint j = lane; j < BKV; j += LPR) {
                    float s = j0 + j < T ? Ss[r * SST + j] * p.scale : NEG;
                    Ss[r * SST + j] = s;
                    mx = max(mx, s);
                }
                red[r * LPR + lane] = mx;
            }
            barrier();
            float mNew = NEG, corr = 1.0, sum = 0.0;
            if (live) {
                float mOld = mrow[r];
                mNew = mOld;
                for (uint k = 0; k < LPR; k++) mNew = max(mNew, red[r * LPR + k]);
                corr = exp(mOld - mNew);
                for (uint j = lane; j < BKV; j += LPR) {
                    float16_t pj = float16_t(exp(Ss[r * SST + j] - mNew));
                    Ps[r * PST + j] = pj;
                    sum += float(pj);
                }
                for (uint d = lane; d < DH; d += LPR) Os[r * OST + d] *= corr;
            }
            barrier(); // every lane has read the maxima
            if (live) red[r * LPR + lane] = sum;
            barrier();
            if (live && lane == 0) {
                float total = 0.0;
                for (uint k = 0; k < LPR; k++) total += red[r * LPR + k];
                mrow[r] = mNew;
                lrow[r] = lrow[r] * corr + total;
            }
        }
        barrier();

        // 4. O += P̃·V.
        for (uint ot = sg; ot < OT; ot += nsg) {
            uint i = ot / (DH / CN), j = ot % (DH / CN);
            coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator> o;
            coopMatLoad(o, Os, i * CM * OST + j * CN, OST, gl_CooperativeMatrixLayoutRowMajor);
            for (uint k = 0; k < BKV; k += CK) {
                coopmat<float16_t, gl_ScopeSubgroup, CM, CK, gl_MatrixUseA> pa;
                coopmat<float16_t, gl_ScopeSubgroup, CK, CN, gl_MatrixUseB> vb;
                coopMatLoad(pa, Ps, i * CM * PST + k, PST, gl_CooperativeMatrixLayoutRowMajor);
                coopMatLoad(vb, Vs, k * HST + j * CN, HST, gl_CooperativeMatrixLayoutRowMajor);
                o = coopMatMulAdd(pa, vb, o);
            }
            coopMatStore(o, Os, i * CM * OST + j * CN, OST, gl_CooperativeMatrixLayoutRowMajor);
        }
        barrier();
    }

    for (uint e = tid; e < BQ * D4; e += WG) {
        uint row = e / D4, d = 4u * (e % D4), t = q0 + row;
        if (t >= T) continue;
        float inv = 1.0 / lrow[row];
        vec4 o = vec4(Os[row * OST + d], Os[row * OST + d + 1], Os[row * OST + d + 2], Os[row * OST + d + 3]);
        dst[(b * T + t) * (p.H * D4) + h * D4 + d / 4u] = f16vec4(o * inv);
    }
}
