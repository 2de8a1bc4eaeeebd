//go:build !purego

#include "textflag.h"
#include "tile_arm64.h"
#include "vecmath_arm64.h"

// The NEON SGEMM micro-kernel: the register tile
//
//	C[i, j] = (acc[i, j] + Σ_{k<K} A[i, k]·B[k, j]) + bias[j]  (+ R[i, j])
//
// with the sum a single chain of fused multiply-adds (FMLA) in k order, the
// chain of the AVX kernels of gemm_amd64.s, so tiles, K blocks and ISAs give
// the same bits; then the epilogue. The arguments and layouts are those of
// gemm_amd64.s (strides in float32 elements; acc, bias, r, gelu and pf
// optional; R may equal C; K ≥ 1; the tile is always full).
//
// func gemmKernelNEON(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int)
//
// Register block 6×16, one half of a 32-wide panel like the AVX2 kernel
// (the caller offsets b, acc, c, bias and r by 16 floats for the right
// half): row i of the tile in V(4i)…V(4i+3), columns 4j…4j+3 in V(4i+j),
// 24 accumulators; V24–V27 hold the panel row B[k, 0:16] (one VLD1 of 64
// bytes, post-incremented by the 128-byte panel row stride in R9); V28–V31
// take the broadcasts A[i, k] in turn (VLD1R, post-incremented by 4). Per k:
// 1 panel load, 6 broadcast loads, 24 FMLAs (192 flops), so the FMA pipes,
// not the load ports, set the pace on cores with two or more load ports.
// Row pointers R1–R6 = A rows 0–5 (each advances by 4 bytes a k), R7 = lda
// bytes, R8 = the panel row, R0 = k left. The k loop is unrolled four
// times, with a one-step loop for K mod 4.
//
// Epilogue: + bias (V24–V27), + R row by row (every R row is read before
// any C row is written), store; then, with gelu, each stored row is
// reloaded from L1 four lanes at a time and replaced by GELU4 of
// vecmath_arm64.h (constants from the table in R11). pf: pfn 64-byte lines
// from pf are prefetched into L2 first (PRFM PLDL2KEEP), the driver's share
// of the next B block.
TEXT ·gemmKernelNEON(SB), NOSPLIT, $0-112
	MOVD pf+96(FP), R10
	MOVD pfn+104(FP), R11
	PREFETCH_L2(R10, R11)
	MOVD k+0(FP), R0
	MOVD a+8(FP), R1
	MOVD lda+16(FP), R7
	LSL  $2, R7
	ADD  R7, R1, R2
	ADD  R7, R2, R3
	ADD  R7, R3, R4
	ADD  R7, R4, R5
	ADD  R7, R5, R6
	MOVD b+24(FP), R8
	MOVD $128, R9

	MOVD acc+32(FP), R13
	CBZ  R13, zero
	MOVD ldacc+40(FP), R12
	LSL  $2, R12
	LOAD_TILE(R13, R12)
	B    start

zero:
	ZERO_TILE

// STEP is one k: the panel row, six broadcasts, 24 FMLAs; R1–R6 and R8
// advance to the next k.
#define STEP \
	VLD1.P (R8)(R9), [V24.S4, V25.S4, V26.S4, V27.S4]; \
	VLD1R.P 4(R1), [V28.S4]; \
	VLD1R.P 4(R2), [V29.S4]; \
	VLD1R.P 4(R3), [V30.S4]; \
	VLD1R.P 4(R4), [V31.S4]; \
	VFMLA V24.S4, V28.S4, V0.S4; \
	VFMLA V25.S4, V28.S4, V1.S4; \
	VFMLA V26.S4, V28.S4, V2.S4; \
	VFMLA V27.S4, V28.S4, V3.S4; \
	VLD1R.P 4(R5), [V28.S4]; \
	VFMLA V24.S4, V29.S4, V4.S4; \
	VFMLA V25.S4, V29.S4, V5.S4; \
	VFMLA V26.S4, V29.S4, V6.S4; \
	VFMLA V27.S4, V29.S4, V7.S4; \
	VLD1R.P 4(R6), [V29.S4]; \
	VFMLA V24.S4, V30.S4, V8.S4; \
	VFMLA V25.S4, V30.S4, V9.S4; \
	VFMLA V26.S4, V30.S4, V10.S4; \
	VFMLA V27.S4, V30.S4, V11.S4; \
	VFMLA V24.S4, V31.S4, V12.S4; \
	VFMLA V25.S4, V31.S4, V13.S4; \
	VFMLA V26.S4, V31.S4, V14.S4; \
	VFMLA V27.S4, V31.S4, V15.S4; \
	VFMLA V24.S4, V28.S4, V16.S4; \
	VFMLA V25.S4, V28.S4, V17.S4; \
	VFMLA V26.S4, V28.S4, V18.S4; \
	VFMLA V27.S4, V28.S4, V19.S4; \
	VFMLA V24.S4, V29.S4, V20.S4; \
	VFMLA V25.S4, V29.S4, V21.S4; \
	VFMLA V26.S4, V29.S4, V22.S4; \
	VFMLA V27.S4, V29.S4, V23.S4

start:
	CMP  $4, R0
	BLT  tail

loop:
	STEP
	STEP
	STEP
	STEP
	SUB  $4, R0
	CMP  $4, R0
	BGE  loop

tail:
	CBZ  R0, epilogue

tailloop:
	STEP
	SUBS $1, R0
	BNE  tailloop

epilogue:
	MOVD bias+64(FP), R13
	CBZ  R13, nobias
	VLD1 (R13), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(0, 0, 24)
	FADD4(1, 1, 25)
	FADD4(2, 2, 26)
	FADD4(3, 3, 27)
	FADD4(4, 4, 24)
	FADD4(5, 5, 25)
	FADD4(6, 6, 26)
	FADD4(7, 7, 27)
	FADD4(8, 8, 24)
	FADD4(9, 9, 25)
	FADD4(10, 10, 26)
	FADD4(11, 11, 27)
	FADD4(12, 12, 24)
	FADD4(13, 13, 25)
	FADD4(14, 14, 26)
	FADD4(15, 15, 27)
	FADD4(16, 16, 24)
	FADD4(17, 17, 25)
	FADD4(18, 18, 26)
	FADD4(19, 19, 27)
	FADD4(20, 20, 24)
	FADD4(21, 21, 25)
	FADD4(22, 22, 26)
	FADD4(23, 23, 27)

nobias:
	MOVD r+72(FP), R13
	CBZ  R13, store
	MOVD ldr+80(FP), R12
	LSL  $2, R12
	VLD1.P (R13)(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(0, 0, 24)
	FADD4(1, 1, 25)
	FADD4(2, 2, 26)
	FADD4(3, 3, 27)
	VLD1.P (R13)(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(4, 4, 24)
	FADD4(5, 5, 25)
	FADD4(6, 6, 26)
	FADD4(7, 7, 27)
	VLD1.P (R13)(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(8, 8, 24)
	FADD4(9, 9, 25)
	FADD4(10, 10, 26)
	FADD4(11, 11, 27)
	VLD1.P (R13)(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(12, 12, 24)
	FADD4(13, 13, 25)
	FADD4(14, 14, 26)
	FADD4(15, 15, 27)
	VLD1.P (R13)(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(16, 16, 24)
	FADD4(17, 17, 25)
	FADD4(18, 18, 26)
	FADD4(19, 19, 27)
	VLD1.P (R13)(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(20, 20, 24)
	FADD4(21, 21, 25)
	FADD4(22, 22, 26)
	FADD4(23, 23, 27)

store:
	MOVD c+48(FP), R13
	MOVD ldc+56(FP), R12
	LSL  $2, R12
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], (R13)(R12)
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], (R13)(R12)
	VST1.P [V8.S4, V9.S4, V10.S4, V11.S4], (R13)(R12)
	VST1.P [V12.S4, V13.S4, V14.S4, V15.S4], (R13)(R12)
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], (R13)(R12)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], (R13)(R12)

	MOVD gelu+88(FP), R11
	CBZ  R11, done
	GELU_CONSTS
	MOVD c+48(FP), R13
	MOVD $6, R0
gelu:
	FMOVQ (R13), F0
	GELU4
	FMOVQ F10, (R13)
	FMOVQ 16(R13), F0
	GELU4
	FMOVQ F10, 16(R13)
	FMOVQ 32(R13), F0
	GELU4
	FMOVQ F10, 32(R13)
	FMOVQ 48(R13), F0
	GELU4
	FMOVQ F10, 48(R13)
	ADD  R12, R13
	SUBS $1, R0
	BNE  gelu

done:
	RET

// func fmaPeakNEON(n int)
//
// n iterations of 24 independent 4-lane FMLAs (V0–V23 += V24·V25, 192
// flops an iteration): the core's FMA throughput, which BenchmarkPeak
// reports as the ceiling for the GEMM figures. Nothing else uses it.
TEXT ·fmaPeakNEON(SB), NOSPLIT, $0-8
	MOVD n+0(FP), R0
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
peak:
	VFMLA V24.S4, V25.S4, V0.S4
	VFMLA V24.S4, V25.S4, V1.S4
	VFMLA V24.S4, V25.S4, V2.S4
	VFMLA V24.S4, V25.S4, V3.S4
	VFMLA V24.S4, V25.S4, V4.S4
	VFMLA V24.S4, V25.S4, V5.S4
	VFMLA V24.S4, V25.S4, V6.S4
	VFMLA V24.S4, V25.S4, V7.S4
	VFMLA V24.S4, V25.S4, V8.S4
	VFMLA V24.S4, V25.S4, V9.S4
	VFMLA V24.S4, V25.S4, V10.S4
	VFMLA V24.S4, V25.S4, V11.S4
	VFMLA V24.S4, V25.S4, V12.S4
	VFMLA V24.S4, V25.S4, V13.S4
	VFMLA V24.S4, V25.S4, V14.S4
	VFMLA V24.S4, V25.S4, V15.S4
	VFMLA V24.S4, V25.S4, V16.S4
	VFMLA V24.S4, V25.S4, V17.S4
	VFMLA V24.S4, V25.S4, V18.S4
	VFMLA V24.S4, V25.S4, V19.S4
	VFMLA V24.S4, V25.S4, V20.S4
	VFMLA V24.S4, V25.S4, V21.S4
	VFMLA V24.S4, V25.S4, V22.S4
	VFMLA V24.S4, V25.S4, V23.S4
	SUBS $1, R0
	BNE  peak
	RET
