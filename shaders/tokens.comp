#version 450
// tokens.comp: builds the transformer input: special tokens, then patch
// embeddings, plus position embeddings.
//
// Math:  out[b·T + t, d] = (t < S ? special[t, d] : patches[b·(T−S) + t − S, d]) + pos[t, d]
// bindings (set 0): 0 patches float[B·(T−S)·D] (read)
//                   1 special float[S·D]       (read; any buffer when S = 0)
//                   2 pos     float[T·D]       (read)
//                   3 out     float[B·T·D]     (write)
// push constants:   uint n (= B·T·D), T, S, D
// spec constants:   none; local size 256, one output element per invocation
// dispatch:         (X, Y, 1), X·Y·256 ≥ n; element = (y·X + x)·256 + lane

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer Patches { float patches[]; };
layout(set = 0, binding = 1) readonly buffer Special { float special[]; };
layout(set = 0, binding = 2) readonly buffer Pos { float pos[]; };
layout(set = 0, binding = 3) writeonly buffer Out { float dst[]; };
layout(push_constant) uniform Push { uint n, T, S, D; } p;

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256u + gl_LocalInvocationID.x;
    if (i >= p.n) return;
    uint d = i % p.D, bt = i / p.D;
    uint t = bt % p.T, b = bt / p.T;
    float v;
    if (t < p.S) {
        v = special[t * p.D + d];
    } else {
        v = patches[(b * (p.T - p.S) + t - p.S) * p.D + d];
    }
    dst[i] = v + pos[t * p.D + d];
}
