#version 450
// add: y[i] = x[i] * SCALE + add for i < n.
// bindings: 0 x (readonly), 1 y (writeonly); push: uint n, float add;
// specialization: constant_id 0 SCALE (float bits, default 1).
layout(local_size_x = 64) in;
layout(constant_id = 0) const float SCALE = 1.0;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; float add; } p;
void main() {
	uint i = gl_GlobalInvocationID.x;
	if (i < p.n) {
		y[i] = x[i] * SCALE + p.add;
	}
}
