#version 450
// inc: a[i] += add for i < n, in place.
// bindings: 0 a (read-write); push: uint n, float add.
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
layout(push_constant) uniform P { uint n; float add; } p;
void main() {
	uint i = gl_GlobalInvocationID.x;
	if (i < p.n) {
		a[i] += p.add;
	}
}
