// vecmath_amd64.h: the vectorized exp and GELU of vecmath.go as macros, for
// gelu_amd64.s, attention_amd64.s and layernorm_amd64.s. R11 must hold the
// address of the constant table (vecConsts); row i is at i·64 bytes.
// The indices below must match the k* constants of vecmath.go
// (TestVecConstsLayout checks the table's shape and a few values).

#define C_HALF (0*64)(R11)
#define C_ONE (1*64)(R11)
#define C_RSQRT2 (2*64)(R11)
#define C_ABS (3*64)(R11)
#define C_SIGN (4*64)(R11)
#define C_ERF6 (5*64)(R11)
#define C_ERF5 (6*64)(R11)
#define C_ERF4 (7*64)(R11)
#define C_ERF3 (8*64)(R11)
#define C_ERF2 (9*64)(R11)
#define C_ERF1 (10*64)(R11)
#define C_ERF0 (11*64)(R11)
#define C_CLAMP (12*64)(R11)
#define C_ERFC7 (13*64)(R11)
#define C_ERFC6 (14*64)(R11)
#define C_ERFC5 (15*64)(R11)
#define C_ERFC4 (16*64)(R11)
#define C_ERFC3 (17*64)(R11)
#define C_ERFC2 (18*64)(R11)
#define C_ERFC1 (19*64)(R11)
#define C_ERFC0 (20*64)(R11)
#define C_TWO (21*64)(R11)
#define C_LOG2E (22*64)(R11)
#define C_LN2HI (23*64)(R11)
#define C_LN2LO (24*64)(R11)
#define C_EXPMIN (25*64)(R11)
#define C_EXP7 (26*64)(R11)
#define C_EXP6 (27*64)(R11)
#define C_EXP5 (28*64)(R11)
#define C_EXP4 (29*64)(R11)
#define C_EXP3 (30*64)(R11)
#define C_EXP2 (31*64)(R11)
#define C_EXP1 (32*64)(R11)
#define C_EXP0 (33*64)(R11)
#define C_BIAS127 (34*64)(R11)

// EXP512(y, e, n, r): e = exp(y) on 16 lanes for y ≤ 0, and 0 for
// y < −60 (and NaN); y is clamped in place, n and r and K4 are clobbered.
//   n = round(y·log₂e); r = y − n·ln2hi − n·ln2lo; e = P₇(r)·2ⁿ (VSCALEFPS).
#define EXP512(y, e, n, r) \
	VCMPPS $0x1d, C_EXPMIN, y, K4; \
	VMAXPS C_EXPMIN, y, y; \
	VMULPS C_LOG2E, y, n; \
	VRNDSCALEPS $0, n, n; \
	VMOVAPS y, r; \
	VFNMADD231PS C_LN2HI, n, r; \
	VFNMADD231PS C_LN2LO, n, r; \
	VMOVAPS C_EXP7, e; \
	VFMADD213PS C_EXP6, r, e; \
	VFMADD213PS C_EXP5, r, e; \
	VFMADD213PS C_EXP4, r, e; \
	VFMADD213PS C_EXP3, r, e; \
	VFMADD213PS C_EXP2, r, e; \
	VFMADD213PS C_EXP1, r, e; \
	VFMADD213PS C_EXP0, r, e; \
	VSCALEFPS n, e, e; \
	VMOVAPS.Z e, K4, e

// EXP256(y, e, n, r, m): e = exp(y) on 8 lanes for y ≤ 0, and 0 for
// y < −60. y is clamped in place; n, r and m are clobbered. 2ⁿ is built in
// the exponent field.
#define EXP256(y, e, n, r, m) \
	VCMPPS $0x11, C_EXPMIN, y, m; \
	VMAXPS C_EXPMIN, y, y; \
	VMULPS C_LOG2E, y, n; \
	VROUNDPS $0, n, n; \
	VMOVAPS y, r; \
	VFNMADD231PS C_LN2HI, n, r; \
	VFNMADD231PS C_LN2LO, n, r; \
	VMOVUPS C_EXP7, e; \
	VFMADD213PS C_EXP6, r, e; \
	VFMADD213PS C_EXP5, r, e; \
	VFMADD213PS C_EXP4, r, e; \
	VFMADD213PS C_EXP3, r, e; \
	VFMADD213PS C_EXP2, r, e; \
	VFMADD213PS C_EXP1, r, e; \
	VFMADD213PS C_EXP0, r, e; \
	VCVTPS2DQ n, n; \
	VPADDD C_BIAS127, n, n; \
	VPSLLD $23, n, n; \
	VMULPS n, e, e; \
	VANDNPS e, m, e

// GELU512: Z10 = gelu(Z0) on 16 lanes, shaders/gelu.glsl's formula:
//   z = x/√2, t = |z|, h = x/2;
//   t < 1:  h·(1 + z·P(z²))
//   t ≥ 1:  e = h·exp(−t²)·Q(u), u = 1/(1 + min(t, 4.5)/2);  x − e (x ≥ 0), e (x < 0).
// Both branches are computed and merged with K1 (t < 1) and K2 (x ≥ 0).
// 1/(…) is VRCP14PS refined by one Newton step (relative error ~2⁻²⁸).
// Clobbers Z1–Z11, K1, K2, K4.
#define GELU512 \
	VMULPS C_RSQRT2, Z0, Z1; \
	VPANDD C_ABS, Z1, Z2; \
	VMULPS C_HALF, Z0, Z3; \
	VCMPPS $0x11, C_ONE, Z2, K1; \
	VPXORD Z4, Z4, Z4; \
	VCMPPS $0x1d, Z4, Z0, K2; \
	VMULPS Z1, Z1, Z4; \
	VMOVAPS C_ERF6, Z5; \
	VFMADD213PS C_ERF5, Z4, Z5; \
	VFMADD213PS C_ERF4, Z4, Z5; \
	VFMADD213PS C_ERF3, Z4, Z5; \
	VFMADD213PS C_ERF2, Z4, Z5; \
	VFMADD213PS C_ERF1, Z4, Z5; \
	VFMADD213PS C_ERF0, Z4, Z5; \
	VMULPS Z1, Z5, Z5; \
	VADDPS C_ONE, Z5, Z5; \
	VMULPS Z3, Z5, Z5; \
	VMINPS C_CLAMP, Z2, Z6; \
	VMULPS C_HALF, Z6, Z6; \
	VADDPS C_ONE, Z6, Z6; \
	VRCP14PS Z6, Z7; \
	VMOVAPS Z7, Z8; \
	VFNMADD213PS C_TWO, Z6, Z8; \
	VMULPS Z8, Z7, Z7; \
	VMOVAPS C_ERFC7, Z8; \
	VFMADD213PS C_ERFC6, Z7, Z8; \
	VFMADD213PS C_ERFC5, Z7, Z8; \
	VFMADD213PS C_ERFC4, Z7, Z8; \
	VFMADD213PS C_ERFC3, Z7, Z8; \
	VFMADD213PS C_ERFC2, Z7, Z8; \
	VFMADD213PS C_ERFC1, Z7, Z8; \
	VFMADD213PS C_ERFC0, Z7, Z8; \
	VMULPS Z2, Z2, Z9; \
	VPXORD C_SIGN, Z9, Z9; \
	EXP512(Z9, Z10, Z11, Z6); \
	VMULPS Z8, Z10, Z10; \
	VMULPS Z3, Z10, Z10; \
	VSUBPS Z10, Z0, K2, Z10; \
	VMOVAPS Z5, K1, Z10

// GELU256: Y10 = gelu(Y0) on 8 lanes, the same formula as GELU512, merged
// with VBLENDVPS (Y14: t < 1, Y15: x ≥ 0); 1/(…) is an exact VDIVPS.
// Clobbers Y1–Y15.
#define GELU256 \
	VMULPS C_RSQRT2, Y0, Y1; \
	VANDPS C_ABS, Y1, Y2; \
	VMULPS C_HALF, Y0, Y3; \
	VCMPPS $0x11, C_ONE, Y2, Y14; \
	VXORPS Y15, Y15, Y15; \
	VCMPPS $0x1d, Y15, Y0, Y15; \
	VMULPS Y1, Y1, Y4; \
	VMOVUPS C_ERF6, Y5; \
	VFMADD213PS C_ERF5, Y4, Y5; \
	VFMADD213PS C_ERF4, Y4, Y5; \
	VFMADD213PS C_ERF3, Y4, Y5; \
	VFMADD213PS C_ERF2, Y4, Y5; \
	VFMADD213PS C_ERF1, Y4, Y5; \
	VFMADD213PS C_ERF0, Y4, Y5; \
	VMULPS Y1, Y5, Y5; \
	VADDPS C_ONE, Y5, Y5; \
	VMULPS Y3, Y5, Y5; \
	VMINPS C_CLAMP, Y2, Y6; \
	VMULPS C_HALF, Y6, Y6; \
	VADDPS C_ONE, Y6, Y6; \
	VMOVUPS C_ONE, Y7; \
	VDIVPS Y6, Y7, Y7; \
	VMOVUPS C_ERFC7, Y8; \
	VFMADD213PS C_ERFC6, Y7, Y8; \
	VFMADD213PS C_ERFC5, Y7, Y8; \
	VFMADD213PS C_ERFC4, Y7, Y8; \
	VFMADD213PS C_ERFC3, Y7, Y8; \
	VFMADD213PS C_ERFC2, Y7, Y8; \
	VFMADD213PS C_ERFC1, Y7, Y8; \
	VFMADD213PS C_ERFC0, Y7, Y8; \
	VMULPS Y2, Y2, Y9; \
	VXORPS C_SIGN, Y9, Y9; \
	EXP256(Y9, Y10, Y11, Y12, Y13); \
	VMULPS Y8, Y10, Y10; \
	VMULPS Y3, Y10, Y10; \
	VSUBPS Y10, Y0, Y11; \
	VBLENDVPS Y15, Y11, Y10, Y10; \
	VBLENDVPS Y14, Y5, Y10, Y10
