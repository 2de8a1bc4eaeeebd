//go:build !purego

#include "textflag.h"
#include "tile_amd64.h"

// The bf16 micro-kernels and the bf16 rounding of rows. Go's assembler has
// no mnemonics for AVX512_BF16 or AMX, so those instructions are emitted as
// bytes (EVEX / VEX encodings), each under a comment with its Intel-syntax
// form.
//
// Both micro-kernels compute raw sums into one fp32 tile,
//
//	C[i, j] = acc[i, j] + Σ_p A[i, 2p]·B[2p, j] + A[i, 2p+1]·B[2p+1, j]
//
// with A and B in bf16 pairs (element 2p in the low half of a 32-bit word,
// 2p+1 in the high half); the Go driver applies the epilogue (bias,
// residual, GELU) afterwards with the fp32 micro-kernel (gemm.go, epilogue).
// Layouts (strides in 32-bit words, i.e. pairs):
//   A    row-major pairs, row i at a + 4·i·lda bytes, kp pairs per row;
//   B    one packed bf16 panel: for each pair row p, 32 words (the panel's
//        32 columns), so row p is at b + 128·p bytes;
//   acc  optional (nil = zero), fp32 tile rows with stride ldacc;
//   C    the fp32 tile, stride ldc (it may be acc itself).

// DPi_h is VDPBF16PS Z(24+h), Z(bcast), Z(2i+h) in Intel order: Z(2i+h) += the
// pair products of the panel row half Z(24+h) and row i's broadcast pair.
// VDPBF16PS Z0, Z24, Z26
#define DP0_0 BYTE $0x62; BYTE $0x92; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xC2
// VDPBF16PS Z1, Z25, Z26
#define DP0_1 BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xCA
// VDPBF16PS Z2, Z24, Z27
#define DP1_0 BYTE $0x62; BYTE $0x92; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xD3
// VDPBF16PS Z3, Z25, Z27
#define DP1_1 BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xDB
// VDPBF16PS Z4, Z24, Z28
#define DP2_0 BYTE $0x62; BYTE $0x92; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xE4
// VDPBF16PS Z5, Z25, Z28
#define DP2_1 BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xEC
// VDPBF16PS Z6, Z24, Z29
#define DP3_0 BYTE $0x62; BYTE $0x92; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xF5
// VDPBF16PS Z7, Z25, Z29
#define DP3_1 BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xFD
// VDPBF16PS Z8, Z24, Z30
#define DP4_0 BYTE $0x62; BYTE $0x12; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xC6
// VDPBF16PS Z9, Z25, Z30
#define DP4_1 BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xCE
// VDPBF16PS Z10, Z24, Z31
#define DP5_0 BYTE $0x62; BYTE $0x12; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xD7
// VDPBF16PS Z11, Z25, Z31
#define DP5_1 BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xDF
// VDPBF16PS Z12, Z24, Z26
#define DP6_0 BYTE $0x62; BYTE $0x12; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xE2
// VDPBF16PS Z13, Z25, Z26
#define DP6_1 BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xEA
// VDPBF16PS Z14, Z24, Z27
#define DP7_0 BYTE $0x62; BYTE $0x12; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xF3
// VDPBF16PS Z15, Z25, Z27
#define DP7_1 BYTE $0x62; BYTE $0x12; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xFB
// VDPBF16PS Z16, Z24, Z28
#define DP8_0 BYTE $0x62; BYTE $0x82; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xC4
// VDPBF16PS Z17, Z25, Z28
#define DP8_1 BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xCC
// VDPBF16PS Z18, Z24, Z29
#define DP9_0 BYTE $0x62; BYTE $0x82; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xD5
// VDPBF16PS Z19, Z25, Z29
#define DP9_1 BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xDD
// VDPBF16PS Z20, Z24, Z30
#define DP10_0 BYTE $0x62; BYTE $0x82; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xE6
// VDPBF16PS Z21, Z25, Z30
#define DP10_1 BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xEE
// VDPBF16PS Z22, Z24, Z31
#define DP11_0 BYTE $0x62; BYTE $0x82; BYTE $0x3E; BYTE $0x40; BYTE $0x52; BYTE $0xF7
// VDPBF16PS Z23, Z25, Z31
#define DP11_1 BYTE $0x62; BYTE $0x82; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xFF

// func gemmKernelBF16AVX512(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, pf *float32, pfn int)
//
// The AVX-512 fp32 kernel's 12×32 register block (gemm_amd64.s) with
// VDPBF16PS in place of VFMADD231PS: rows i = 0..11 in Z(2i), Z(2i+1);
// Z24, Z25 the panel's pair row; Z26..Z31 the broadcast pairs A[i, 2p:2p+2]
// (VBROADCASTSS only moves the 32 bits). Per pair row: 2 loads, 12
// broadcasts, 24 VDPBF16PS (1536 flops). kp ≥ 1; unrolled four times.
TEXT ·gemmKernelBF16AVX512(SB), NOSPLIT, $0-80
	MOVQ pf+64(FP), AX
	MOVQ pfn+72(FP), CX
	PREFETCH_L2(AX, CX)
	MOVQ kp+0(FP), CX
	TILE512_ROWS
	TILE512_INIT

#define STEPBF16(bo, ao) \
	VMOVUPS bo(DX), Z24; \
	VMOVUPS (bo+64)(DX), Z25; \
	VBROADCASTSS ao(SI), Z26; \
	DP0_0; \
	DP0_1; \
	VBROADCASTSS ao(SI)(R8*1), Z27; \
	DP1_0; \
	DP1_1; \
	VBROADCASTSS ao(SI)(R8*2), Z28; \
	DP2_0; \
	DP2_1; \
	VBROADCASTSS ao(SI)(R9*1), Z29; \
	DP3_0; \
	DP3_1; \
	VBROADCASTSS ao(R10), Z30; \
	DP4_0; \
	DP4_1; \
	VBROADCASTSS ao(R10)(R8*1), Z31; \
	DP5_0; \
	DP5_1; \
	VBROADCASTSS ao(R10)(R8*2), Z26; \
	DP6_0; \
	DP6_1; \
	VBROADCASTSS ao(R10)(R9*1), Z27; \
	DP7_0; \
	DP7_1; \
	VBROADCASTSS ao(R11), Z28; \
	DP8_0; \
	DP8_1; \
	VBROADCASTSS ao(R11)(R8*1), Z29; \
	DP9_0; \
	DP9_1; \
	VBROADCASTSS ao(R11)(R8*2), Z30; \
	DP10_0; \
	DP10_1; \
	VBROADCASTSS ao(R11)(R9*1), Z31; \
	DP11_0; \
	DP11_1

	CMPQ CX, $4
	JL   tail

loop:
	STEPBF16(0, 0)
	STEPBF16(128, 4)
	STEPBF16(256, 8)
	STEPBF16(384, 12)
	ADDQ $512, DX
	ADDQ $16, SI
	ADDQ $16, R10
	ADDQ $16, R11
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop

tail:
	TESTQ CX, CX
	JZ   store

tailloop:
	STEPBF16(0, 0)
	ADDQ $128, DX
	ADDQ $4, SI
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ CX
	JNZ  tailloop

store:
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), BX
	SHLQ $2, BX
	STORE_TILE512(DI, BX)
	VZEROUPPER
	RET

// func roundRowsBF16AVX512(dst *uint16, ldd int, src *float32, lds int, rows int, n int)
//
// dst[i·ldd + j] = bf16(src[i·lds + j]) for i < rows, j < n, rounded to
// nearest even (VCVTNEPS2BF16: NaNs made quiet, denormals to signed zero);
// ldd in halves, lds in floats, n a positive multiple of 32, rows ≥ 1.
// The rows are often far apart (attention's Q, K and V are 64-value slices
// of qkv rows 4.6 KB long, beyond L2 at batch 8), so each row first
// prefetches the one four rows ahead (PREFETCHT0, n/16 lines; a prefetch
// past the end does not fault). SI/DI the row, AX/BX the position in it,
// R8/R9 the strides in bytes, R12 four rows of src.
TEXT ·roundRowsBF16AVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $1, R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ n+40(FP), R11
	MOVQ R9, R12
	SHLQ $2, R12
roundrow:
	LEAQ (SI)(R12*1), DX
	MOVQ R11, CX
roundpf:
	PREFETCHT0 (DX)
	ADDQ $64, DX
	SUBQ $16, CX
	JG   roundpf
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R11, CX
roundloop:
	VMOVUPS (AX), Z0
	VMOVUPS 64(AX), Z2
	// VCVTNEPS2BF16 Y1, Z0
	BYTE $0x62; BYTE $0xF2; BYTE $0x7E; BYTE $0x48; BYTE $0x72; BYTE $0xC8
	// VCVTNEPS2BF16 Y3, Z2
	BYTE $0x62; BYTE $0xF2; BYTE $0x7E; BYTE $0x48; BYTE $0x72; BYTE $0xDA
	VMOVDQU Y1, (BX)
	VMOVDQU Y3, 32(BX)
	ADDQ $128, AX
	ADDQ $64, BX
	SUBQ $32, CX
	JNZ  roundloop
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ R10
	JNZ  roundrow
	VZEROUPPER
	RET

// func xgetbv0() uint64
//
// XCR0, the state components the OS saves (bits 17 and 18: AMX tile
// configuration and data).
TEXT ·xgetbv0(SB), NOSPLIT, $0-8
	MOVL $0, CX
	// XGETBV
	BYTE $0x0F; BYTE $0x01; BYTE $0xD0
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func gemmKernelAMX(kp int, a *float32, lda int, b *float32, acc *float32, ldacc int, c *float32, ldc int, cfg *amxConfig)
//
// A 24×32 tile on AMX, the whole tile session inside this one function (Go
// never preempts assembly asynchronously, so it stays on one thread; tile
// state is assumed lost between calls). cfg (amx.go) gives every tile 64
// bytes per row: TMM0..TMM3 the C quarters (rows 0–11 / 12–23 × columns
// 0–15 / 16–31, 12 rows), TMM4, TMM5 the A rows 0–11 and 12–23 (12 rows of
// 16 pairs), TMM6, TMM7 the panel's columns 0–15 and 16–31 (16 pair rows,
// stride 128 bytes). Per 16 pairs: 4 loads, 4 TDPBF16PS. kp a positive
// multiple of 16. Registers: SI, R10 the A row blocks, R8 A's stride in
// bytes; DX, R11 the two panel halves, R9 = 128.
TEXT ·gemmKernelAMX(SB), NOSPLIT, $0-72
	MOVQ cfg+64(FP), AX
	// LDTILECFG (AX)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x00
	MOVQ kp+0(FP), CX
	SHRQ $4, CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R10
	SHLQ $2, R10
	ADDQ SI, R10
	MOVQ b+24(FP), DX
	LEAQ 64(DX), R11
	MOVQ $128, R9

	MOVQ acc+32(FP), AX
	TESTQ AX, AX
	JZ   amxzero
	MOVQ ldacc+40(FP), BX
	SHLQ $2, BX
	// TILELOADD TMM0, [AX+BX*1]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x04; BYTE $0x18
	ADDQ $64, AX
	// TILELOADD TMM1, [AX+BX*1]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x0C; BYTE $0x18
	MOVQ acc+32(FP), AX
	LEAQ (BX)(BX*2), DI
	SHLQ $2, DI
	ADDQ DI, AX
	// TILELOADD TMM2, [AX+BX*1]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x14; BYTE $0x18
	ADDQ $64, AX
	// TILELOADD TMM3, [AX+BX*1]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x1C; BYTE $0x18
	JMP  amxloop

amxzero:
	// TILEZERO TMM0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0
	// TILEZERO TMM1
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC8
	// TILEZERO TMM2
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD0
	// TILEZERO TMM3
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD8

amxloop:
	// TILELOADD TMM4, [SI+R8*1]
	BYTE $0xC4; BYTE $0xA2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x06
	// TILELOADD TMM5, [R10+R8*1]
	BYTE $0xC4; BYTE $0x82; BYTE $0x7B; BYTE $0x4B; BYTE $0x2C; BYTE $0x02
	// TILELOADD TMM6, [DX+R9*1]
	BYTE $0xC4; BYTE $0xA2; BYTE $0x7B; BYTE $0x4B; BYTE $0x34; BYTE $0x0A
	// TILELOADD TMM7, [R11+R9*1]
	BYTE $0xC4; BYTE $0x82; BYTE $0x7B; BYTE $0x4B; BYTE $0x3C; BYTE $0x0B
	// TDPBF16PS TMM0, TMM4, TMM6
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4
	// TDPBF16PS TMM1, TMM4, TMM7
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xCC
	// TDPBF16PS TMM2, TMM5, TMM6
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xD5
	// TDPBF16PS TMM3, TMM5, TMM7
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xDD
	ADDQ $64, SI
	ADDQ $64, R10
	ADDQ $2048, DX
	ADDQ $2048, R11
	DECQ CX
	JNZ  amxloop

	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), BX
	SHLQ $2, BX
	// TILESTORED [DI+BX*1], TMM0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x1F
	ADDQ $64, DI
	// TILESTORED [DI+BX*1], TMM1
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x0C; BYTE $0x1F
	MOVQ c+48(FP), DI
	LEAQ (BX)(BX*2), AX
	SHLQ $2, AX
	ADDQ AX, DI
	// TILESTORED [DI+BX*1], TMM2
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x14; BYTE $0x1F
	ADDQ $64, DI
	// TILESTORED [DI+BX*1], TMM3
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x1C; BYTE $0x1F
	// TILERELEASE
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
	RET

// func dpPeakBF16AVX512(n int)
//
// n iterations of 24 independent VDPBF16PS (Z0–Z23 += the pair products of
// Z24/Z25 and Z26–Z31, the micro-kernel's DPi_h encodings: 64 flops each,
// 1536 an iteration): the core's bf16 dot-product throughput, which
// BenchmarkPeak reports as the ceiling for the bf16 GEMM figures. Nothing
// else uses it.
TEXT ·dpPeakBF16AVX512(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
dppeak:
	DP0_0; DP0_1; DP1_0; DP1_1; DP2_0; DP2_1; DP3_0; DP3_1
	DP4_0; DP4_1; DP5_0; DP5_1; DP6_0; DP6_1; DP7_0; DP7_1
	DP8_0; DP8_1; DP9_0; DP9_1; DP10_0; DP10_1; DP11_0; DP11_1
	DECQ CX
	JNZ  dppeak
	VZEROUPPER
	RET
