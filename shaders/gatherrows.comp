#version 450
// gatherrows.comp: copies the first S rows of every batch item.
//
// Math:  out[b·S + i, d] = in[b·T + i, d]   for i < S, d < D
// bindings (set 0): 0 in  float[B·T·D] (read)
//                   1 out float[B·S·D] (write)
// push constants:   uint n (= B·S·D), T, S, D
// spec constants:   none; local size 256, one output element per invocation
// dispatch:         (X, Y, 1), X·Y·256 ≥ n; element = (y·X + x)·256 + lane

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer In { float src[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float dst[]; };
layout(push_constant) uniform Push { uint n, T, S, D; } p;

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256u + gl_LocalInvocationID.x;
    if (i >= p.n) return;
    uint d = i % p.D, r = i / p.D;
    uint row = r % p.S, b = r / p.S;
    dst[i] = src[(b * p.T + row) * p.D + d];
}
