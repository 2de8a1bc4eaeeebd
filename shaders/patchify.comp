#version 450
// patchify.comp: im2col for a convolution with stride = kernel = P.
//
// Math:  out[(b·Gh + py)·Gw + px, (c·P + ky)·P + kx] = pixels[b, c, py·P + ky, px·P + kx]
//        Gh = H/P, Gw = W/P (the remainder rows/columns are dropped, as the conv does).
// bindings (set 0): 0 pixels float[B·C·H·W]         (read, NCHW)
//                   1 out    float[B·Gh·Gw · C·P·P] (write)
// push constants:   uint n (= B·Gh·Gw·C·P·P), C, H, W, P, Gh, Gw
// spec constants:   none; local size 256, one output element per invocation
// dispatch:         (X, Y, 1), X·Y·256 ≥ n; element = (y·X + x)·256 + lane
// fp16 build (-DFP16, patchify_f16.spv; f16.glsl): out is fp16 (each pixel
// rounded once), pixels stay fp32: the conversion of the input happens here.

#extension GL_GOOGLE_include_directive : require
#include "f16.glsl"

layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer Pix { float pix[]; };
layout(set = 0, binding = 1) writeonly buffer Out { ST1 dst[]; };
layout(push_constant) uniform Push { uint n, C, H, W, P, Gh, Gw; } p;

void main() {
    uint i = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 256u + gl_LocalInvocationID.x;
    if (i >= p.n) return;
    uint cols = p.C * p.P * p.P;
    uint col = i % cols, row = i / cols;
    uint kx = col % p.P, ky = (col / p.P) % p.P, c = col / (p.P * p.P);
    uint px = row % p.Gw, py = (row / p.Gw) % p.Gh, b = row / (p.Gw * p.Gh);
    dst[i] = S1(pix[((b * p.C + c) * p.H + py * p.P + ky) * p.W + px * p.P + kx]);
}
