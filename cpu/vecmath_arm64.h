// vecmath_arm64.h: the vectorized exp and GELU of vecmath.go as macros for
// the arm64 assembly (gemm_arm64.s, gelu_arm64.s, attention_arm64.s), four
// float32 lanes per 128-bit register.
//
// Go's arm64 assembler has no mnemonics for most floating-point vector
// instructions (it has VFMLA and VFMLS, not FADD, FMUL, FDIV, FCMGT, …), so
// the first group of macros encodes them as WORDs. Their arguments are
// register numbers in the architecture's order, destination first: FMUL4(1,
// 0, 26) is FMUL V1.4S, V0.4S, V26.4S. Every encoding is the instruction's
// base opcode | Rm<<16 | Rn<<5 | Rd, the base being the instruction with
// V0 in every field (as an arm64 disassembler shows it); the kernels' tests
// against their Go twins exercise every one.

// FADD Vd.4S, Vn.4S, Vm.4S: d = n + m
#define FADD4(d, n, m) WORD $(0x4E20D400 | ((m)<<16) | ((n)<<5) | (d))
// FSUB Vd.4S, Vn.4S, Vm.4S: d = n − m
#define FSUB4(d, n, m) WORD $(0x4EA0D400 | ((m)<<16) | ((n)<<5) | (d))
// FMUL Vd.4S, Vn.4S, Vm.4S: d = n·m
#define FMUL4(d, n, m) WORD $(0x6E20DC00 | ((m)<<16) | ((n)<<5) | (d))
// FDIV Vd.4S, Vn.4S, Vm.4S: d = n/m (correctly rounded)
#define FDIV4(d, n, m) WORD $(0x6E20FC00 | ((m)<<16) | ((n)<<5) | (d))
// FMAX Vd.4S, Vn.4S, Vm.4S: d = max(n, m)
#define FMAX4(d, n, m) WORD $(0x4E20F400 | ((m)<<16) | ((n)<<5) | (d))
// FMIN Vd.4S, Vn.4S, Vm.4S: d = min(n, m)
#define FMIN4(d, n, m) WORD $(0x4EA0F400 | ((m)<<16) | ((n)<<5) | (d))
// FCMGT Vd.4S, Vn.4S, Vm.4S: d = n > m ? all ones : 0 (0 for NaN)
#define FCMGT4(d, n, m) WORD $(0x6EA0E400 | ((m)<<16) | ((n)<<5) | (d))
// FCMGE Vd.4S, Vn.4S, #0.0: d = n ≥ 0 ? all ones : 0 (0 for NaN)
#define FCMGEZ4(d, n) WORD $(0x6EA0C800 | ((n)<<5) | (d))
// FABS Vd.4S, Vn.4S
#define FABS4(d, n) WORD $(0x4EA0F800 | ((n)<<5) | (d))
// FNEG Vd.4S, Vn.4S
#define FNEG4(d, n) WORD $(0x6EA0F800 | ((n)<<5) | (d))
// FRINTN Vd.4S, Vn.4S: round to nearest, ties to even
#define FRINTN4(d, n) WORD $(0x4E218800 | ((n)<<5) | (d))
// FCVTZS Vd.4S, Vn.4S: float32 to int32 toward zero
#define FCVTZS4(d, n) WORD $(0x4EA1B800 | ((n)<<5) | (d))
// BIC Vd.16B, Vn.16B, Vm.16B: d = n AND NOT m
#define BIC16(d, n, m) WORD $(0x4E601C00 | ((m)<<16) | ((n)<<5) | (d))
// FADDP Vd.4S, Vn.4S, Vm.4S: pairwise sums of the concatenation n:m
#define FADDP4(d, n, m) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
// FMAXV Sd, Vn.4S: the maximum of the four lanes, in lane 0 of d
#define FMAXV4(d, n) WORD $(0x6E30F800 | ((n)<<5) | (d))

// The constant table (vecConsts) is addressed from R11; row i is at i·64
// bytes and FMOVQ loads its first four lanes. The indices must match the
// k* constants of vecmath.go (TestVecConstsLayout pins them).
#define C_HALF (0*64)(R11)
#define C_ONE (1*64)(R11)
#define C_RSQRT2 (2*64)(R11)
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

// EXP_CONSTS loads the constants EXP4 keeps in registers: V28 = log₂e,
// V29 = ln2hi, V30 = ln2lo, V31 = −60, V23 = 127 (int32).
#define EXP_CONSTS \
	FMOVQ C_LOG2E, F28; \
	FMOVQ C_LN2HI, F29; \
	FMOVQ C_LN2LO, F30; \
	FMOVQ C_EXPMIN, F31; \
	FMOVQ C_BIAS127, F23

// GELU_CONSTS loads EXP_CONSTS and the ones GELU4 adds: V24 = ½, V25 = 1,
// V26 = 1/√2, V27 = 4.5.
#define GELU_CONSTS \
	EXP_CONSTS; \
	FMOVQ C_HALF, F24; \
	FMOVQ C_ONE, F25; \
	FMOVQ C_RSQRT2, F26; \
	FMOVQ C_CLAMP, F27

// EXP4: V10 = exp(V9) on 4 lanes for V9 ≤ 0, and 0 where V9 < −60; V9 is
// clamped in place, V11–V14 are clobbered; needs EXP_CONSTS.
//   n = round(y·log₂e); r = y − n·ln2hi − n·ln2lo (fused); e = P₇(r) by
//   Horner, each step one fused multiply-add (the Horner value alternates
//   between V14 and V10); e·2ⁿ with 2ⁿ built in the exponent field.
// The same operations in the same order as EXP256 of vecmath_amd64.h, so
// the results agree bit for bit.
#define EXP4 \
	FCMGT4(13, 31, 9); \
	FMAX4(9, 9, 31); \
	FMUL4(11, 9, 28); \
	FRINTN4(11, 11); \
	VORR V9.B16, V9.B16, V12.B16; \
	VFMLS V29.S4, V11.S4, V12.S4; \
	VFMLS V30.S4, V11.S4, V12.S4; \
	FMOVQ C_EXP7, F14; \
	FMOVQ C_EXP6, F10; \
	VFMLA V12.S4, V14.S4, V10.S4; \
	FMOVQ C_EXP5, F14; \
	VFMLA V12.S4, V10.S4, V14.S4; \
	FMOVQ C_EXP4, F10; \
	VFMLA V12.S4, V14.S4, V10.S4; \
	FMOVQ C_EXP3, F14; \
	VFMLA V12.S4, V10.S4, V14.S4; \
	FMOVQ C_EXP2, F10; \
	VFMLA V12.S4, V14.S4, V10.S4; \
	FMOVQ C_EXP1, F14; \
	VFMLA V12.S4, V10.S4, V14.S4; \
	FMOVQ C_EXP0, F10; \
	VFMLA V12.S4, V14.S4, V10.S4; \
	FCVTZS4(11, 11); \
	VADD V23.S4, V11.S4, V11.S4; \
	VSHL $23, V11.S4, V11.S4; \
	FMUL4(10, 10, 11); \
	BIC16(10, 10, 13)

// GELU4: V10 = gelu(V0) on 4 lanes, shaders/gelu.glsl's formula:
//   z = x/√2, t = |z|, h = x/2;
//   t < 1:  h·(1 + z·P(z²))
//   t ≥ 1:  e = h·exp(−t²)·Q(u), u = 1/(1 + min(t, 4.5)/2);  x − e (x ≥ 0), e (x < 0).
// Both branches are computed and merged with BIT under V16 (t < 1) and V17
// (x ≥ 0); 1/(…) is an exact FDIV. The operations and their order are
// GELU256's, so NEON and AVX2 agree bit for bit. Needs GELU_CONSTS;
// clobbers V1–V17.
#define GELU4 \
	FMUL4(1, 0, 26); \
	FABS4(2, 1); \
	FMUL4(3, 0, 24); \
	FCMGT4(16, 25, 2); \
	FCMGEZ4(17, 0); \
	FMUL4(4, 1, 1); \
	FMOVQ C_ERF6, F6; \
	FMOVQ C_ERF5, F5; \
	VFMLA V4.S4, V6.S4, V5.S4; \
	FMOVQ C_ERF4, F6; \
	VFMLA V4.S4, V5.S4, V6.S4; \
	FMOVQ C_ERF3, F5; \
	VFMLA V4.S4, V6.S4, V5.S4; \
	FMOVQ C_ERF2, F6; \
	VFMLA V4.S4, V5.S4, V6.S4; \
	FMOVQ C_ERF1, F5; \
	VFMLA V4.S4, V6.S4, V5.S4; \
	FMOVQ C_ERF0, F6; \
	VFMLA V4.S4, V5.S4, V6.S4; \
	FMUL4(5, 6, 1); \
	FADD4(5, 5, 25); \
	FMUL4(5, 5, 3); \
	FMIN4(6, 2, 27); \
	FMUL4(6, 6, 24); \
	FADD4(6, 6, 25); \
	FDIV4(7, 25, 6); \
	FMOVQ C_ERFC7, F9; \
	FMOVQ C_ERFC6, F8; \
	VFMLA V7.S4, V9.S4, V8.S4; \
	FMOVQ C_ERFC5, F9; \
	VFMLA V7.S4, V8.S4, V9.S4; \
	FMOVQ C_ERFC4, F8; \
	VFMLA V7.S4, V9.S4, V8.S4; \
	FMOVQ C_ERFC3, F9; \
	VFMLA V7.S4, V8.S4, V9.S4; \
	FMOVQ C_ERFC2, F8; \
	VFMLA V7.S4, V9.S4, V8.S4; \
	FMOVQ C_ERFC1, F9; \
	VFMLA V7.S4, V8.S4, V9.S4; \
	FMOVQ C_ERFC0, F8; \
	VFMLA V7.S4, V9.S4, V8.S4; \
	FMUL4(9, 2, 2); \
	FNEG4(9, 9); \
	EXP4; \
	FMUL4(10, 10, 8); \
	FMUL4(10, 10, 3); \
	FSUB4(11, 0, 10); \
	VBIT V17.B16, V11.B16, V10.B16; \
	VBIT V16.B16, V5.B16, V10.B16
