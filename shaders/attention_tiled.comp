#version 450
// attention_tiled.comp: fused scaled-dot-product attention for GPUs, as a
// flash-attention tile: one workgroup owns a block of BQ queries of one
// (batch, head) and streams the keys through shared memory in tiles of BKV;
// the T×T scores never leave the chip.
//
// Math, layout, bindings and push constants: exactly as attention_regblock.comp
//   s_j = scale · Q[b,t,h]·K[b,j,h];  out[b,t,h] = Σ_j softmax(s)_j · V[b,j,h]
//   bindings 0 qkv float[B·T·3·H·DH] (read), 1 out float[B·T·H·DH] (write)
//   push     uint T, H; float scale
// spec constants:   0 DH  head size, a multiple of 4 (default 64)
//                   1 BQ  queries per workgroup, a multiple of 4 (default 32)
//                   2 KPT keys per invocation per tile; BKV = 16·KPT keys
//                         per tile (default 2)
//                   3 WG  local_size_x, must equal 4·BQ (default 128)
// dispatch:         (ceil(T / BQ), H, B)
// Buffers must start 16-byte aligned (vec4 access).
// fp16 build (-DFP16, attention_tiled_f16.spv; f16.glsl): qkv and out are
// fp16 (8-byte aligned); Q, K and V are converted to fp32 as they are
// staged, so scores, softmax and P·V are fp32 as in the fp32 build, and
// out is rounded to fp16 once.
// Shared memory (bytes), D4 = DH/4, BKV = 16·KPT:
//   16·(BQ·(D4+1) + BKV·(D4+1) + BKV·D4 + BQ·(BKV/4+1) + BQ·5)
// = 32768 for the default tile at DH = 64 (ops_attention.go mirrors this).
//
// Invocations form NG = BQ/4 row groups of 16 lanes: invocation i belongs to
// group g = (i/4) mod NG and is lane n = 4·(i div 4NG) + i mod 4 of it; group
// g owns the block's queries g, g+NG, g+2NG, g+3NG. For the default tile a
// subgroup of 32 thus holds 8 groups × 4 lanes: its shared loads touch 8 Q
// or P rows and 4 K or V rows, each row padded by one vec4 so that they fall
// in distinct banks (one wavefront per 128-bit load, half of what 2 groups ×
// 16 lanes would need). Nothing depends on the subgroup size; it only
// decides which accesses share a wavefront. Per key tile:
//   1. K and V rows of the tile go to shared memory (coalesced vec4 loads by
//      all invocations, issued one tile ahead into registers); keys past T
//      are zeros.
//   2. scores: the invocation computes its 4 queries × KPT keys (keys
//      n + 16c), q·scale and K both from shared memory; keys past T get −3e38.
//   3. row max: each invocation publishes the max of its KPT scores per row;
//      all 16 lanes of a row read the 16 partial maxima in the same order, so
//      they agree bit for bit on the new running max m. Then
//      corr = exp(m_old − m), p = exp(s − m) (each score exponentiated once),
//      p goes to shared memory, o and the lane's partial row sum l are scaled
//      by corr and l += Σ p.
//   4. o += P·V: the invocation owns its 4 queries × the dims 4n.., 4n+64..
//      of the head (vec4 each), reading P and V rows from shared memory.
// At the end the 16 partial sums of a row are added in shared memory and the
// invocation stores its o / l slice (rows past T are skipped). Queries past T
// are zero rows, so every score is finite and the first tile (which holds
// key 0) makes every running max finite: no NaN can arise from the padding.
// All barriers are reached by the whole workgroup (uniform loop bounds).

#extension GL_GOOGLE_include_directive : require
#include "f16.glsl"

layout(local_size_x_id = 3) in;
layout(constant_id = 0) const uint DH = 64;
layout(constant_id = 1) const uint BQ = 32;
layout(constant_id = 2) const uint KPT = 2;
layout(constant_id = 3) const uint WG = 128;

layout(set = 0, binding = 0) readonly buffer QKV { ST4 qkv[]; };
layout(set = 0, binding = 1) writeonly buffer Out { ST4 dst[]; };
layout(push_constant) uniform Push { uint T, H; float scale; } p;

const uint D4 = DH / 4;
const uint LANES = 16;                       // invocations sharing a row group
const uint BKV = LANES * KPT;                // keys per tile
const uint NG = BQ / 4;                      // row groups
const uint QST = D4 + 1;                     // padded Q row (vec4s)
const uint KST = D4 + 1;                     // padded K row (vec4s)
const uint PST = BKV / 4 + 1;                // padded P row (vec4s)
const uint MST = LANES / 4 + 1;              // padded Mx row (vec4s)
const uint DPL = (D4 + LANES - 1) / LANES;   // output vec4s per row per lane
const uint LPT = (BKV * D4 + WG - 1) / WG;   // K (and V) vec4 loads per lane per tile
const float NEG = -3.0e38;

shared vec4 Qs[BQ * QST];
shared vec4 Ks[BKV * KST];
shared vec4 Vs[BKV * D4];
shared vec4 Ps[BQ * PST];
shared vec4 Mx[BQ * MST];                    // per-lane row max, then row sum

void main() {
    uint b = gl_WorkGroupID.z, h = gl_WorkGroupID.y;
    uint tid = gl_LocalInvocationID.x;
    uint g = (tid / 4u) % NG, n = tid / (4u * NG) * 4u + tid % 4u;
    uint q0 = gl_WorkGroupID.x * BQ;
    uint T = p.T;
    uint rowStride = 3u * p.H * D4;
    uint base = b * T * rowStride + h * D4;
    uint koff = p.H * D4, voff = 2u * p.H * D4;

    // Query block, pre-scaled; rows past T are zeros.
    for (uint e = tid; e < BQ * D4; e += WG) {
        uint row = e / D4, d = e % D4, t = q0 + row;
        Qs[row * QST + d] = t < T ? F4(qkv[base + t * rowStride + d]) * p.scale : vec4(0.0);
    }

    vec4 o[4][DPL];
    float m[4], l[4];
    for (uint r = 0; r < 4; r++) {
        m[r] = NEG;
        l[r] = 0.0;
        for (uint i = 0; i < DPL; i++) o[r][i] = vec4(0.0);
    }

    // Tile 0's K and V rows, in registers.
    vec4 kr[LPT], vr[LPT];
    for (uint i = 0; i < LPT; i++) {
        uint e = tid + i * WG;
        uint j = e / D4;
        kr[i] = vec4(0.0);
        vr[i] = vec4(0.0);
        if (e < BKV * D4 && j < T) {
            uint gi = base + j * rowStride + e % D4;
            kr[i] = F4(qkv[gi + koff]);
            vr[i] = F4(qkv[gi + voff]);
        }
    }

    uint tiles = (T + BKV - 1) / BKV;
    for (uint tile = 0; tile < tiles; tile++) {
        uint j0 = tile * BKV;
        // 1. Stage this tile, then start loading the next one.
        for (uint i = 0; i < LPT; i++) {
            uint e = tid + i * WG;
            if (e < BKV * D4) {
                uint row = e / D4, d = e % D4;
                Ks[row * KST + d] = kr[i];
                Vs[e] = vr[i];
            }
        }
        barrier();
        if (tile + 1u < tiles) {
            for (uint i = 0; i < LPT; i++) {
                uint e = tid + i * WG;
                uint j = j0 + BKV + e / D4;
                kr[i] = vec4(0.0);
                vr[i] = vec4(0.0);
                if (e < BKV * D4 && j < T) {
                    uint gi = base + j * rowStride + e % D4;
                    kr[i] = F4(qkv[gi + koff]);
                    vr[i] = F4(qkv[gi + voff]);
                }
            }
        }

        // 2. Scores of 4 queries × KPT keys.
        float s[4][KPT];
        for (uint r = 0; r < 4; r++)
            for (uint c = 0; c < KPT; c++) s[r][c] = 0.0;
        for (uint d = 0; d < D4; d++) {
            vec4 kv[KPT];
            for (uint c = 0; c < KPT; c++) kv[c] = Ks[(n + LANES * c) * KST + d];
            for (uint r = 0; r < 4; r++) {
                vec4 qv = Qs[(g + NG * r) * QST + d];
                for (uint c = 0; c < KPT; c++) {
                    float a = s[r][c];
                    a = fma(qv.x, kv[c].x, a);
                    a = fma(qv.y, kv[c].y, a);
                    a = fma(qv.z, kv[c].z, a);
                    a = fma(qv.w, kv[c].w, a);
                    s[r][c] = a;
                }
            }
        }
        for (uint r = 0; r < 4; r++) {
            float mx = NEG;
            for (uint c = 0; c < KPT; c++) {
                if (j0 + n + LANES * c >= T) s[r][c] = NEG;
                mx = max(mx, s[r][c]);
            }
            Mx[(g + NG * r) * MST + n / 4u][n % 4u] = mx;
        }
        barrier();

        // 3. New running max per row, probabilities, rescaling.
        for (uint r = 0; r < 4; r++) {
            float mn = m[r];
            for (uint k = 0; k < LANES / 4u; k++) {
                vec4 x = Mx[(g + NG * r) * MST + k];
                mn = max(mn, max(max(x.x, x.y), max(x.z, x.w)));
            }
            float corr = exp(m[r] - mn);
            m[r] = mn;
            float sum = 0.0;
            for (uint c = 0; c < KPT; c++) {
                float pj = exp(s[r][c] - mn);
                sum += pj;
                uint k = n + LANES * c;
                Ps[(g + NG * r) * PST + k / 4u][k % 4u] = pj;
            }
            l[r] = l[r] * corr + sum;
            for (uint i = 0; i < DPL; i++) o[r][i] *= corr;
        }
        barrier();

        // 4. o += P·V.
        for (uint kq = 0; kq < BKV / 4u; kq++) {
            vec4 pr[4];
            for (uint r = 0; r < 4; r++) pr[r] = Ps[(g + NG * r) * PST + kq];
            for (uint kk = 0; kk < 4; kk++) {
                for (uint i = 0; i < DPL; i++) {
                    uint d = n + LANES * i;
                    if (D4 % LANES == 0u || d < D4) {
                        vec4 v = Vs[(4u * kq + kk) * D4 + d];
                        for (uint r = 0; r < 4; r++) o[r][i] = fma(vec4(pr[r][kk]), v, o[r][i]);
                    }
                }
            }
        }
        barrier();
    }

    // Row sums: add the 16 lanes' partial sums (all share the row's m).
    for (uint r = 0; r < 4; r++) Mx[(g + NG * r) * MST + n / 4u][n % 4u] = l[r];
    barrier();
    for (uint r = 0; r < 4; r++) {
        uint t = q0 + g + NG * r;
        float L = 0.0;
        for (uint k = 0; k < LANES / 4u; k++) {
            vec4 x = Mx[(g + NG * r) * MST + k];
            L += (x.x + x.y) + (x.z + x.w);
        }
        if (t < T) {
            float inv = 1.0 / L;
            uint obase = (b * T + t) * (p.H * D4) + h * D4;
            for (uint i = 0; i < DPL; i++) {
                uint d = n + LANES * i;
                if (D4 % LANES == 0u || d < D4) dst[obase + d] = S4(o[r][i] * inv);
            }
        }
    }
}
