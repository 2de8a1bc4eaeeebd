//go:build !purego

#include "textflag.h"
#include "vecmath_amd64.h"

#define HSUM128(x, t) \
	VPERMILPS $0x4e, x, t; \
	VADDPS t, x, x; \
	VPERMILPS $0xb1, x, t; \
	VADDPS t, x, x

#define HMAX128(x, t) \
	VPERMILPS $0x4e, x, t; \
	VMAXPS t, x, x; \
	VPERMILPS $0xb1, x, t; \
	VMAXPS t, x, x

// func softmaxAVX512(p *float32, n int, scale float32, c *vecConsts)
//
// One row of scores in place: p[i] = exp(scale·(p[i] − m)) / Σ, m = max p,
// three passes over n floats, n a positive multiple of 16 (the attention
// rows are padded with −Inf, whose exp is 0). Pass 1: Z13 = running max,
// reduced to a broadcast. Pass 2: EXP512 on Z9 (Z10 result, Z11/Z12 temps),
// stored, summed in Z15. Pass 3: times 1/Σ (Z14).
TEXT ·softmaxAVX512(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+24(FP), R11

	VMOVUPS (SI), Z13
	MOVQ SI, AX
	MOVQ CX, BX
max512:
	VMAXPS (AX), Z13, Z13
	ADDQ $64, AX
	SUBQ $16, BX
	JNZ  max512
	VEXTRACTF64X4 $1, Z13, Y1
	VMAXPS Y1, Y13, Y13
	VEXTRACTF128 $1, Y13, X1
	VMAXPS X1, X13, X13
	HMAX128(X13, X1)
	VBROADCASTSS X13, Z13
	VBROADCASTSS scale+16(FP), Z14

	VPXORD Z15, Z15, Z15
	MOVQ SI, AX
	MOVQ CX, BX
exp512:
	VMOVUPS (AX), Z9
	VSUBPS Z13, Z9, Z9
	VMULPS Z14, Z9, Z9
	EXP512(Z9, Z10, Z11, Z12)
	VMOVUPS Z10, (AX)
	VADDPS Z10, Z15, Z15
	ADDQ $64, AX
	SUBQ $16, BX
	JNZ  exp512
	VEXTRACTF64X4 $1, Z15, Y1
	VADDPS Y1, Y15, Y15
	VEXTRACTF128 $1, Y15, X1
	VADDPS X1, X15, X15
	HSUM128(X15, X1)
	MOVL $0x3f800000, AX
	VMOVD AX, X14
	VDIVSS X15, X14, X14
	VBROADCASTSS X14, Z14

	MOVQ SI, AX
	MOVQ CX, BX
norm512:
	VMULPS (AX), Z14, Z9
	VMOVUPS Z9, (AX)
	ADDQ $64, AX
	SUBQ $16, BX
	JNZ  norm512
	VZEROUPPER
	RET

// func softmaxAVX2(p *float32, n int, scale float32, c *vecConsts)
//
// The same on 8 lanes (EXP256: Y9 in, Y10 out, Y11, Y12, Y8 temps); n a
// positive multiple of 8.
TEXT ·softmaxAVX2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ c+24(FP), R11

	VMOVUPS (SI), Y13
	MOVQ SI, AX
	MOVQ CX, BX
max2:
	VMAXPS (AX), Y13, Y13
	ADDQ $32, AX
	SUBQ $8, BX
	JNZ  max2
	VEXTRACTF128 $1, Y13, X1
	VMAXPS X1, X13, X13
	HMAX128(X13, X1)
	VBROADCASTSS X13, Y13
	VBROADCASTSS scale+16(FP), Y14

	VXORPS Y15, Y15, Y15
	MOVQ SI, AX
	MOVQ CX, BX
exp2:
	VMOVUPS (AX), Y9
	VSUBPS Y13, Y9, Y9
	VMULPS Y14, Y9, Y9
	EXP256(Y9, Y10, Y11, Y12, Y8)
	VMOVUPS Y10, (AX)
	VADDPS Y10, Y15, Y15
	ADDQ $32, AX
	SUBQ $8, BX
	JNZ  exp2
	VEXTRACTF128 $1, Y15, X1
	VADDPS X1, X15, X15
	HSUM128(X15, X1)
	MOVL $0x3f800000, AX
	VMOVD AX, X14
	VDIVSS X15, X14, X14
	VBROADCASTSS X14, Y14

	MOVQ SI, AX
	MOVQ CX, BX
norm2:
	VMULPS (AX), Y14, Y9
	VMOVUPS Y9, (AX)
	ADDQ $32, AX
	SUBQ $8, BX
	JNZ  norm2
	VZEROUPPER
	RET
