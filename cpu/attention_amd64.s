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

// func gatherColsAVX512(dst, src unsafe.Pointer, ld int, n int, mask int, iota *[16]int32)
//
// Transposes a block of 32-bit words, at most 32 rows of n (row r at
// src + 4·r·ld bytes), into n rows of 32: dst[q·32 + r] = src[r·ld + q],
// 0 for the rows mask leaves out (bit r: row r exists): a panel of a
// transposed matrix (packInto's trans: PackLinear's weights, the fp32
// attention's Kᵀ) or of attention's bf16 Kᵀ, whose 32 tokens' pair words
// become its pair rows.
// Registers: Z30, Z31 the word indices r·ld of rows 0–15 and 16–31 (from
// iota = 0..15 times ld); per dst row, two VPGATHERDD under K1, K2 (masks
// bits 0–15 and 16–31, reloaded each time: a gather clears its mask) into
// zeroed Z0, Z1, stored as 128 bytes. n ≥ 1.
TEXT ·gatherColsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), AX
	MOVQ n+24(FP), CX
	MOVQ mask+32(FP), R8
	MOVQ iota+40(FP), DX
	MOVQ R8, R9
	SHRQ $16, R9
	VPBROADCASTD AX, Z29
	VPMULLD (DX), Z29, Z30
	SHLQ $4, AX
	VPBROADCASTD AX, Z28
	VPADDD Z28, Z30, Z31
gather:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	KMOVW R8, K1
	KMOVW R9, K2
	VPGATHERDD (SI)(Z30*4), K1, Z0
	VPGATHERDD (SI)(Z31*4), K2, Z1
	VMOVDQU32 Z0, (DI)
	VMOVDQU32 Z1, 64(DI)
	ADDQ $4, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  gather
	VZEROUPPER
	RET

// func interleavePairsAVX512(dst *uint32, src *uint16, ld int, n int, idx *[2][32]uint16)
//
// Pairs rows of bf16 values into pair words: dst[q·32 + c] = src[2q·ld + c]
// | src[(2q+1)·ld + c]<<16 for q < n, c < 32 (ld in halves): attention's V
// panels, whose pair row q interleaves tokens 2q and 2q+1. Per q: Z0 (a
// copy in Z2) = row 2q's 32 values, Z1 = row 2q+1's; VPERMT2W with the
// indices idx[0] (Z30: i even → Z0[i/2], i odd → Z1[i/2]) and idx[1] (Z31:
// the same for values 16–31) gives the two halves of the 32 words, stored
// as 128 bytes. n ≥ 1.
TEXT ·interleavePairsAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), AX
	SHLQ $1, AX
	MOVQ n+24(FP), CX
	MOVQ idx+32(FP), DX
	VMOVDQU16 (DX), Z30
	VMOVDQU16 64(DX), Z31
interleave:
	VMOVDQU16 (SI), Z0
	VMOVDQU16 (SI)(AX*1), Z1
	VMOVDQA64 Z0, Z2
	VPERMT2W Z1, Z30, Z0
	VPERMT2W Z1, Z31, Z2
	VMOVDQU32 Z0, (DI)
	VMOVDQU32 Z2, 64(DI)
	LEAQ (SI)(AX*2), SI
	ADDQ $128, DI
	DECQ CX
	JNZ  interleave
	VZEROUPPER
	RET
