#version 450
// gelu.comp: out[i] = gelu(in[i]) for i < n, exact erf GELU (see gelu.glsl).
//
// bindings (set 0): 0 in  float[n]   (read)
//                   1 out float[n]   (write)
// push constants:   uint n
// spec constants:   none; local size 256, one element per invocation,
//                   dispatch (ceil(n/256), 1, 1) — x may be split into y
//                   rows of 65535 groups for large n (index = (y·X + x)·256 + lane).
#extension GL_GOOGLE_include_directive : require
#include "gelu.glsl"

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer In { float src[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float dst[]; };
layout(push_constant) uniform Push { uint n; } p;

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256u + gl_LocalInvocationID.x;
    if (i < p.n) {
        dst[i] = gelu(src[i]);
    }
}
