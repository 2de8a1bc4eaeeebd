//go:build !purego

#include "textflag.h"
#include "tile_amd64.h"
#include "vecmath_amd64.h"

// The SGEMM micro-kernels. Both compute one register tile
//
//	C[i, j] = (acc[i, j] + Σ_{k<K} A[i, k]·B[k, j]) + bias[j]  (+ R[i, j])
//
// with the sum a single chain of fused multiply-adds in k order (so tiles,
// K blocks and ISAs give the same bits), then the epilogue.
//
// Layouts (strides are in float32 elements):
//   A    row-major, row i at a + i·lda, K elements read per row;
//   B    one packed panel: for each k, 32 consecutive floats (the panel's 32
//        columns), so row k of the panel is at b + 128·k bytes;
//   acc  optional (nil = start from zero): a tile row-major with stride
//        ldacc, the partial sums of earlier K blocks;
//   C    the tile stored row-major with stride ldc;
//   bias optional (nil = none), the tile's columns;
//   R    optional (nil = none), residual rows with stride ldr; every R row is
//        read before any C row is written, so R may equal C;
//   gelu optional (nil = none): the constant table of vecmath.go; the stored
//        tile, still in L1, is then reloaded and replaced by its GELU
//        (GELU512 / GELU256 of vecmath_amd64.h);
//   pf   pfn cache lines from pf are prefetched into L2 first (PREFETCHT1):
//        the driver hands each call a share of the next B block, so that
//        block streams in from memory while this one is computed.
// K ≥ 1. The tile is always full: the Go driver routes partial tiles
// through scratch copies, so no load or store here needs a mask.

// func gemmKernelAVX512(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int)
//
// Register block 12×32: rows i = 0..11 in Z(2i) (columns 0..15) and
// Z(2i+1) (columns 16..31), 24 accumulators; Z24, Z25 hold the panel row
// B[k, 0:32]; Z26..Z31 take the broadcasts A[i, k] in turn. Per k: 2 panel
// loads, 12 broadcasts, 24 FMAs (768 flops), so the two FMA ports, not the
// two load ports, set the pace. Row pointers: SI = row 0, R10 = row 4,
// R11 = row 8, R8 = lda bytes, R9 = 3·lda bytes. The k loop is unrolled
// four times, with a one-step loop for K mod 4.
TEXT ·gemmKernelAVX512(SB), NOSPLIT, $0-112
	MOVQ pf+96(FP), AX
	MOVQ pfn+104(FP), CX
	PREFETCH_L2(AX, CX)
	MOVQ k+0(FP), CX
	TILE512_ROWS
	TILE512_INIT

// STEP512 is one k: panel row at bo(DX), A column at ao(row pointer).
#define STEP512(bo, ao) \
	VMOVUPS bo(DX), Z24; \
	VMOVUPS (bo+64)(DX), Z25; \
	VBROADCASTSS ao(SI), Z26; \
	VBROADCASTSS ao(SI)(R8*1), Z27; \
	VFMADD231PS Z24, Z26, Z0; \
	VFMADD231PS Z25, Z26, Z1; \
	VBROADCASTSS ao(SI)(R8*2), Z28; \
	VFMADD231PS Z24, Z27, Z2; \
	VFMADD231PS Z25, Z27, Z3; \
	VBROADCASTSS ao(SI)(R9*1), Z29; \
	VFMADD231PS Z24, Z28, Z4; \
	VFMADD231PS Z25, Z28, Z5; \
	VBROADCASTSS ao(R10), Z30; \
	VFMADD231PS Z24, Z29, Z6; \
	VFMADD231PS Z25, Z29, Z7; \
	VBROADCASTSS ao(R10)(R8*1), Z31; \
	VFMADD231PS Z24, Z30, Z8; \
	VFMADD231PS Z25, Z30, Z9; \
	VBROADCASTSS ao(R10)(R8*2), Z26; \
	VFMADD231PS Z24, Z31, Z10; \
	VFMADD231PS Z25, Z31, Z11; \
	VBROADCASTSS ao(R10)(R9*1), Z27; \
	VFMADD231PS Z24, Z26, Z12; \
	VFMADD231PS Z25, Z26, Z13; \
	VBROADCASTSS ao(R11), Z28; \
	VFMADD231PS Z24, Z27, Z14; \
	VFMADD231PS Z25, Z27, Z15; \
	VBROADCASTSS ao(R11)(R8*1), Z29; \
	VFMADD231PS Z24, Z28, Z16; \
	VFMADD231PS Z25, Z28, Z17; \
	VBROADCASTSS ao(R11)(R8*2), Z30; \
	VFMADD231PS Z24, Z29, Z18; \
	VFMADD231PS Z25, Z29, Z19; \
	VBROADCASTSS ao(R11)(R9*1), Z31; \
	VFMADD231PS Z24, Z30, Z20; \
	VFMADD231PS Z25, Z30, Z21; \
	VFMADD231PS Z24, Z31, Z22; \
	VFMADD231PS Z25, Z31, Z23

	CMPQ CX, $4
	JL   tail512

loop512:
	STEP512(0, 0)
	STEP512(128, 4)
	STEP512(256, 8)
	STEP512(384, 12)
	ADDQ $512, DX
	ADDQ $16, SI
	ADDQ $16, R10
	ADDQ $16, R11
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop512

tail512:
	TESTQ CX, CX
	JZ   epilogue512

tailloop512:
	STEP512(0, 0)
	ADDQ $128, DX
	ADDQ $4, SI
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ CX
	JNZ  tailloop512

epilogue512:
	MOVQ bias+64(FP), AX
	TESTQ AX, AX
	JZ   nobias512
	VMOVUPS (AX), Z24
	VMOVUPS 64(AX), Z25
	VADDPS Z24, Z0, Z0
	VADDPS Z25, Z1, Z1
	VADDPS Z24, Z2, Z2
	VADDPS Z25, Z3, Z3
	VADDPS Z24, Z4, Z4
	VADDPS Z25, Z5, Z5
	VADDPS Z24, Z6, Z6
	VADDPS Z25, Z7, Z7
	VADDPS Z24, Z8, Z8
	VADDPS Z25, Z9, Z9
	VADDPS Z24, Z10, Z10
	VADDPS Z25, Z11, Z11
	VADDPS Z24, Z12, Z12
	VADDPS Z25, Z13, Z13
	VADDPS Z24, Z14, Z14
	VADDPS Z25, Z15, Z15
	VADDPS Z24, Z16, Z16
	VADDPS Z25, Z17, Z17
	VADDPS Z24, Z18, Z18
	VADDPS Z25, Z19, Z19
	VADDPS Z24, Z20, Z20
	VADDPS Z25, Z21, Z21
	VADDPS Z24, Z22, Z22
	VADDPS Z25, Z23, Z23

nobias512:
	MOVQ r+72(FP), AX
	TESTQ AX, AX
	JZ   store512
	MOVQ ldr+80(FP), BX
	SHLQ $2, BX
	VADDPS (AX), Z0, Z0
	VADDPS 64(AX), Z1, Z1
	ADDQ BX, AX
	VADDPS (AX), Z2, Z2
	VADDPS 64(AX), Z3, Z3
	ADDQ BX, AX
	VADDPS (AX), Z4, Z4
	VADDPS 64(AX), Z5, Z5
	ADDQ BX, AX
	VADDPS (AX), Z6, Z6
	VADDPS 64(AX), Z7, Z7
	ADDQ BX, AX
	VADDPS (AX), Z8, Z8
	VADDPS 64(AX), Z9, Z9
	ADDQ BX, AX
	VADDPS (AX), Z10, Z10
	VADDPS 64(AX), Z11, Z11
	ADDQ BX, AX
	VADDPS (AX), Z12, Z12
	VADDPS 64(AX), Z13, Z13
	ADDQ BX, AX
	VADDPS (AX), Z14, Z14
	VADDPS 64(AX), Z15, Z15
	ADDQ BX, AX
	VADDPS (AX), Z16, Z16
	VADDPS 64(AX), Z17, Z17
	ADDQ BX, AX
	VADDPS (AX), Z18, Z18
	VADDPS 64(AX), Z19, Z19
	ADDQ BX, AX
	VADDPS (AX), Z20, Z20
	VADDPS 64(AX), Z21, Z21
	ADDQ BX, AX
	VADDPS (AX), Z22, Z22
	VADDPS 64(AX), Z23, Z23

store512:
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), BX
	SHLQ $2, BX
	STORE_TILE512(DI, BX)

	MOVQ gelu+88(FP), R11
	TESTQ R11, R11
	JZ   done512
	MOVQ c+48(FP), DI
	MOVQ $12, CX
gelu512:
	VMOVUPS (DI), Z0
	GELU512
	VMOVUPS Z10, (DI)
	VMOVUPS 64(DI), Z0
	GELU512
	VMOVUPS Z10, 64(DI)
	ADDQ BX, DI
	DECQ CX
	JNZ  gelu512

done512:
	VZEROUPPER
	RET

// func gemmKernelAVX2(k int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, bias *float32, r *float32, ldr int, gelu *vecConsts, pf *float32, pfn int)
//
// Register block 6×16 (one half of a 32-wide panel: the caller offsets b,
// acc, c, bias and r by 16 floats for the right half): rows i = 0..5 in
// Y(2i) (columns 0..7) and Y(2i+1) (8..15); Y12, Y13 the panel row
// B[k, 0:16]; Y14, Y15 broadcasts. Per k: 2 loads, 6 broadcasts, 12 FMAs
// (192 flops). The panel row stride stays 128 bytes. Row pointers: SI = row
// 0, R10 = row 3, R8 = lda bytes. Unrolled four times like the AVX-512 one.
TEXT ·gemmKernelAVX2(SB), NOSPLIT, $0-112
	MOVQ pf+96(FP), AX
	MOVQ pfn+104(FP), CX
	PREFETCH_L2(AX, CX)
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	SHLQ $2, R8
	MOVQ b+24(FP), DX
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R9*1), R10

	MOVQ acc+32(FP), AX
	TESTQ AX, AX
	JZ   zero2
	MOVQ ldacc+40(FP), BX
	SHLQ $2, BX
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	ADDQ BX, AX
	VMOVUPS (AX), Y2
	VMOVUPS 32(AX), Y3
	ADDQ BX, AX
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	ADDQ BX, AX
	VMOVUPS (AX), Y6
	VMOVUPS 32(AX), Y7
	ADDQ BX, AX
	VMOVUPS (AX), Y8
	VMOVUPS 32(AX), Y9
	ADDQ BX, AX
	VMOVUPS (AX), Y10
	VMOVUPS 32(AX), Y11
	JMP  start2

zero2:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

#define STEP2(bo, ao) \
	VMOVUPS bo(DX), Y12; \
	VMOVUPS (bo+32)(DX), Y13; \
	VBROADCASTSS ao(SI), Y14; \
	VBROADCASTSS ao(SI)(R8*1), Y15; \
	VFMADD231PS Y12, Y14, Y0; \
	VFMADD231PS Y13, Y14, Y1; \
	VBROADCASTSS ao(SI)(R8*2), Y14; \
	VFMADD231PS Y12, Y15, Y2; \
	VFMADD231PS Y13, Y15, Y3; \
	VBROADCASTSS ao(R10), Y15; \
	VFMADD231PS Y12, Y14, Y4; \
	VFMADD231PS Y13, Y14, Y5; \
	VBROADCASTSS ao(R10)(R8*1), Y14; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
	VBROADCASTSS ao(R10)(R8*2), Y15; \
	VFMADD231PS Y12, Y14, Y8; \
	VFMADD231PS Y13, Y14, Y9; \
	VFMADD231PS Y12, Y15, Y10; \
	VFMADD231PS Y13, Y15, Y11

start2:
	CMPQ CX, $4
	JL   tail2

loop2:
	STEP2(0, 0)
	STEP2(128, 4)
	STEP2(256, 8)
	STEP2(384, 12)
	ADDQ $512, DX
	ADDQ $16, SI
	ADDQ $16, R10
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop2

tail2:
	TESTQ CX, CX
	JZ   epilogue2

tailloop2:
	STEP2(0, 0)
	ADDQ $128, DX
	ADDQ $4, SI
	ADDQ $4, R10
	DECQ CX
	JNZ  tailloop2

epilogue2:
	MOVQ bias+64(FP), AX
	TESTQ AX, AX
	JZ   nobias2
	VMOVUPS (AX), Y12
	VMOVUPS 32(AX), Y13
	VADDPS Y12, Y0, Y0
	VADDPS Y13, Y1, Y1
	VADDPS Y12, Y2, Y2
	VADDPS Y13, Y3, Y3
	VADDPS Y12, Y4, Y4
	VADDPS Y13, Y5, Y5
	VADDPS Y12, Y6, Y6
	VADDPS Y13, Y7, Y7
	VADDPS Y12, Y8, Y8
	VADDPS Y13, Y9, Y9
	VADDPS Y12, Y10, Y10
	VADDPS Y13, Y11, Y11

nobias2:
	MOVQ r+72(FP), AX
	TESTQ AX, AX
	JZ   store2
	MOVQ ldr+80(FP), BX
	SHLQ $2, BX
	VADDPS (AX), Y0, Y0
	VADDPS 32(AX), Y1, Y1
	ADDQ BX, AX
	VADDPS (AX), Y2, Y2
	VADDPS 32(AX), Y3, Y3
	ADDQ BX, AX
	VADDPS (AX), Y4, Y4
	VADDPS 32(AX), Y5, Y5
	ADDQ BX, AX
	VADDPS (AX), Y6, Y6
	VADDPS 32(AX), Y7, Y7
	ADDQ BX, AX
	VADDPS (AX), Y8, Y8
	VADDPS 32(AX), Y9, Y9
	ADDQ BX, AX
	VADDPS (AX), Y10, Y10
	VADDPS 32(AX), Y11, Y11

store2:
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), BX
	SHLQ $2, BX
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ BX, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ BX, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ BX, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ BX, DI
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 32(DI)
	ADDQ BX, DI
	VMOVUPS Y10, (DI)
	VMOVUPS Y11, 32(DI)

	MOVQ gelu+88(FP), R11
	TESTQ R11, R11
	JZ   done2
	MOVQ c+48(FP), DI
	MOVQ $6, CX
gelu2:
	VMOVUPS (DI), Y0
	GELU256
	VMOVUPS Y10, (DI)
	VMOVUPS 32(DI), Y0
	GELU256
	VMOVUPS Y10, 32(DI)
	ADDQ BX, DI
	DECQ CX
	JNZ  gelu2

done2:
	VZEROUPPER
	RET

// func fmaPeakAVX512(n int)
//
// n iterations of 16 independent 16-lane FMAs (Z0–Z15 += Z16·Z17, 512 flops
// an iteration): the core's FMA throughput, which BenchmarkPeak reports as
// the ceiling for the GEMM figures. Nothing else uses it.
TEXT ·fmaPeakAVX512(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
peak:
	VFMADD231PS Z16, Z17, Z0
	VFMADD231PS Z16, Z17, Z1
	VFMADD231PS Z16, Z17, Z2
	VFMADD231PS Z16, Z17, Z3
	VFMADD231PS Z16, Z17, Z4
	VFMADD231PS Z16, Z17, Z5
	VFMADD231PS Z16, Z17, Z6
	VFMADD231PS Z16, Z17, Z7
	VFMADD231PS Z16, Z17, Z8
	VFMADD231PS Z16, Z17, Z9
	VFMADD231PS Z16, Z17, Z10
	VFMADD231PS Z16, Z17, Z11
	VFMADD231PS Z16, Z17, Z12
	VFMADD231PS Z16, Z17, Z13
	VFMADD231PS Z16, Z17, Z14
	VFMADD231PS Z16, Z17, Z15
	DECQ CX
	JNZ  peak
	VZEROUPPER
	RET

// func fmaPeakAVX2(n int)
//
// The same with 12 ymm accumulators (Y0–Y11 += Y12·Y13, 192 flops an
// iteration).
TEXT ·fmaPeakAVX2(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
peak2:
	VFMADD231PS Y12, Y13, Y0
	VFMADD231PS Y12, Y13, Y1
	VFMADD231PS Y12, Y13, Y2
	VFMADD231PS Y12, Y13, Y3
	VFMADD231PS Y12, Y13, Y4
	VFMADD231PS Y12, Y13, Y5
	VFMADD231PS Y12, Y13, Y6
	VFMADD231PS Y12, Y13, Y7
	VFMADD231PS Y12, Y13, Y8
	VFMADD231PS Y12, Y13, Y9
	VFMADD231PS Y12, Y13, Y10
	VFMADD231PS Y12, Y13, Y11
	DECQ CX
	JNZ  peak2
	VZEROUPPER
	RET
