//go:build !purego

#include "textflag.h"
#include "tile_arm64.h"

// The bf16 micro-kernel for arm64: BFDOT (FEAT_BF16), by element. Go's
// arm64 assembler has no mnemonic for it, so BFDOT4 encodes it as a WORD:
//
//	BFDOT Vd.4S, Vn.8H, Vm.2H[i]   0 1 0 0 1 1 1 1 0 1 L M Rm 1 1 1 1 H 0 Rn Rd
//
// base 0x4F40F000 | L<<21 | (M:Rm)<<16 | H<<11 | Rn<<5 | Rd, the index
// i = H:L; BFDOT4(d, n, m, i) takes register numbers and the index.
// (Assembled with binutils' aarch64 as and disassembled back: 0x4F58F3C0
// is BFDOT V0.4S, V30.8H, V24.2H[0], 0x4F7DFBF7 BFDOT V23.4S, V31.8H,
// V29.2H[3].) Lane j of Vd becomes
//
//	Vd[j] + (Vn.h[2j]·Vm.h[2i] + Vn.h[2j+1]·Vm.h[2i+1])
//
// with BFDotAdd's arithmetic (FEAT_BF16 without FEAT_EBF16, or FPCR.EBF = 0
// as Linux leaves it): the products exact unless below 2⁻¹²⁶, the pair sum
// and then the accumulation each rounded to odd, denormal inputs and
// results flushed to zero. That is one order of additions and one rounding
// away from VDPBF16PS, so the sums differ from the generic twin's within
// the bound bf16_test.go states, and equal a Go model of BFDotAdd bit for
// bit.
#define BFDOT4(d, n, m, i) WORD $(0x4F40F000 | (((i)&1)<<21) | ((m)<<16) | (((i)>>1)<<11) | ((n)<<5) | (d))

// func gemmKernelBF16NEON(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, pf *float32, pfn int)
//
// The contract of gemmKernelBF16AVX512 (gemm_bf16_amd64.s): raw fp32 sums
// into a 12×32 tile,
//
//	C[i, j] = acc[i, j] + Σ_p A[i, 2p]·B[2p, j] + A[i, 2p+1]·B[2p+1, j]
//
// A in rows of kp bf16 pair words (row i at a + 4·i·lda bytes), B one
// packed bf16 panel (pair row p at b + 128·p bytes: its 32 columns' words),
// acc optional (nil = zero) with stride ldacc, C with stride ldc (it may be
// acc itself); kp ≥ 1; pf: pfn 64-byte lines prefetched into L2 first
// (PRFM PLDL2KEEP), the driver's share of the next B block.
//
// The 32 q registers hold a 6×16 block, so the tile is covered in four
// quarters (R14 = 0..3: rows 6·(R14&1), columns 16·(R14>>1)), the two row
// groups of one panel half after each other while that half is in L1; each
// quarter reads its acc rows before writing its C rows, so C may be acc.
// In a quarter: row r's columns 4j…4j+3 in V(4r+j), 24 accumulators;
// V24–V29 four pair words of A rows 0–5 (one 16-byte load each, by-element
// index q picks pair row p+q); V30, V31 eight columns of the panel's pair
// row (two 32-byte loads per pair row: columns 0–7, then 8–15, the second
// post-incremented by R9 = 96 to the next pair row). Per four pair rows: 6
// A loads, 8 panel loads, 96 BFDOTs (1536 flops). Pair rows past a multiple
// of four run one at a time on broadcast A words (VLD1R, index 0).
// R1–R6 = A rows (advancing 16 bytes a step), R7 = lda bytes, R8 = the
// panel, R0 = pairs left; R10/R11 = acc and its stride in bytes, R19/R20 =
// C and its stride, R21 = a, R22 = b, R23 = kp; R15 the quarter's first row,
// R24 its column offset in bytes.
TEXT ·gemmKernelBF16NEON(SB), NOSPLIT, $0-80
	MOVD pf+64(FP), R10
	MOVD pfn+72(FP), R11
	PREFETCH_L2(R10, R11)
	MOVD kp+0(FP), R23
	MOVD a+8(FP), R21
	MOVD lda+16(FP), R7
	LSL  $2, R7
	MOVD b+24(FP), R22
	MOVD acc+32(FP), R10
	MOVD ldacc+40(FP), R11
	LSL  $2, R11
	MOVD c+48(FP), R19
	MOVD ldc+56(FP), R20
	LSL  $2, R20
	MOVD $96, R9
	MOVD $0, R14

quarter:
	AND  $1, R14, R15
	MOVD $6, R25
	MUL  R25, R15, R15
	LSR  $1, R14, R24
	LSL  $6, R24, R24
	MUL  R7, R15, R25
	ADD  R21, R25, R1
	ADD  R7, R1, R2
	ADD  R7, R2, R3
	ADD  R7, R3, R4
	ADD  R7, R4, R5
	ADD  R7, R5, R6
	ADD  R22, R24, R8
	MOVD R23, R0

	CBZ  R10, zero
	MUL  R11, R15, R25
	ADD  R10, R25, R13
	ADD  R24, R13, R13
	LOAD_TILE(R13, R11)
	B    start

zero:
	ZERO_TILE

// PAIR(q) is one pair row: its 16 columns in two loads of eight, each
// multiplied into the six rows' accumulators with A's pair word q of
// V24–V29 (12 BFDOTs a load); R8 advances to the next pair row.
#define PAIR(q) \
	VLD1.P 32(R8), [V30.S4, V31.S4]; \
	BFDOT4(0, 30, 24, q); \
	BFDOT4(1, 31, 24, q); \
	BFDOT4(4, 30, 25, q); \
	BFDOT4(5, 31, 25, q); \
	BFDOT4(8, 30, 26, q); \
	BFDOT4(9, 31, 26, q); \
	BFDOT4(12, 30, 27, q); \
	BFDOT4(13, 31, 27, q); \
	BFDOT4(16, 30, 28, q); \
	BFDOT4(17, 31, 28, q); \
	BFDOT4(20, 30, 29, q); \
	BFDOT4(21, 31, 29, q); \
	VLD1.P (R8)(R9), [V30.S4, V31.S4]; \
	BFDOT4(2, 30, 24, q); \
	BFDOT4(3, 31, 24, q); \
	BFDOT4(6, 30, 25, q); \
	BFDOT4(7, 31, 25, q); \
	BFDOT4(10, 30, 26, q); \
	BFDOT4(11, 31, 26, q); \
	BFDOT4(14, 30, 27, q); \
	BFDOT4(15, 31, 27, q); \
	BFDOT4(18, 30, 28, q); \
	BFDOT4(19, 31, 28, q); \
	BFDOT4(22, 30, 29, q); \
	BFDOT4(23, 31, 29, q)
// STEP4 is four pair rows: four A pair words of each row, PAIR(0…3).
#define STEP4 \
	VLD1.P 16(R1), [V24.S4]; \
	VLD1.P 16(R2), [V25.S4]; \
	VLD1.P 16(R3), [V26.S4]; \
	VLD1.P 16(R4), [V27.S4]; \
	VLD1.P 16(R5), [V28.S4]; \
	VLD1.P 16(R6), [V29.S4]; \
	PAIR(0); \
	PAIR(1); \
	PAIR(2); \
	PAIR(3)

start:
	CMP  $4, R0
	BLT  tail

loop:
	STEP4
	SUB  $4, R0
	CMP  $4, R0
	BGE  loop

tail:
	CBZ  R0, store

tailloop:
	VLD1R.P 4(R1), [V24.S4]
	VLD1R.P 4(R2), [V25.S4]
	VLD1R.P 4(R3), [V26.S4]
	VLD1R.P 4(R4), [V27.S4]
	VLD1R.P 4(R5), [V28.S4]
	VLD1R.P 4(R6), [V29.S4]
	PAIR(0)
	SUBS $1, R0
	BNE  tailloop

store:
	MUL  R20, R15, R25
	ADD  R19, R25, R13
	ADD  R24, R13, R13
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], (R13)(R20)
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], (R13)(R20)
	VST1.P [V8.S4, V9.S4, V10.S4, V11.S4], (R13)(R20)
	VST1.P [V12.S4, V13.S4, V14.S4, V15.S4], (R13)(R20)
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], (R13)(R20)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], (R13)(R20)

	ADD  $1, R14
	CMP  $4, R14
	BLT  quarter
	RET
