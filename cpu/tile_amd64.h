// tile_amd64.h: the 12×32 accumulator tile of the AVX-512 micro-kernels
// (gemm_amd64.s, gemm_bf16_amd64.s): row i in Z(2i) (columns 0–15) and
// Z(2i+1) (columns 16–31).

// LOAD_TILE512(p, stride): Z0–Z23 = the twelve rows at p (AX…), stride
// bytes apart; p is advanced to the last row.
#define LOAD_TILE512(p, stride) \
	VMOVUPS (p), Z0; \
	VMOVUPS 64(p), Z1; \
	ADDQ stride, p; \
	VMOVUPS (p), Z2; \
	VMOVUPS 64(p), Z3; \
	ADDQ stride, p; \
	VMOVUPS (p), Z4; \
	VMOVUPS 64(p), Z5; \
	ADDQ stride, p; \
	VMOVUPS (p), Z6; \
	VMOVUPS 64(p), Z7; \
	ADDQ stride, p; \
	VMOVUPS (p), Z8; \
	VMOVUPS 64(p), Z9; \
	ADDQ stride, p; \
	VMOVUPS (p), Z10; \
	VMOVUPS 64(p), Z11; \
	ADDQ stride, p; \
	VMOVUPS (p), Z12; \
	VMOVUPS 64(p), Z13; \
	ADDQ stride, p; \
	VMOVUPS (p), Z14; \
	VMOVUPS 64(p), Z15; \
	ADDQ stride, p; \
	VMOVUPS (p), Z16; \
	VMOVUPS 64(p), Z17; \
	ADDQ stride, p; \
	VMOVUPS (p), Z18; \
	VMOVUPS 64(p), Z19; \
	ADDQ stride, p; \
	VMOVUPS (p), Z20; \
	VMOVUPS 64(p), Z21; \
	ADDQ stride, p; \
	VMOVUPS (p), Z22; \
	VMOVUPS 64(p), Z23

// STORE_TILE512(p, stride): the twelve rows Z0–Z23 to p, stride bytes
// apart; p is advanced to the last row.
#define STORE_TILE512(p, stride) \
	VMOVUPS Z0, (p); \
	VMOVUPS Z1, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z2, (p); \
	VMOVUPS Z3, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z4, (p); \
	VMOVUPS Z5, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z6, (p); \
	VMOVUPS Z7, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z8, (p); \
	VMOVUPS Z9, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z10, (p); \
	VMOVUPS Z11, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z12, (p); \
	VMOVUPS Z13, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z14, (p); \
	VMOVUPS Z15, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z16, (p); \
	VMOVUPS Z17, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z18, (p); \
	VMOVUPS Z19, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z20, (p); \
	VMOVUPS Z21, 64(p); \
	ADDQ stride, p; \
	VMOVUPS Z22, (p); \
	VMOVUPS Z23, 64(p)

// ZERO_TILE512: Z0–Z23 = 0.
#define ZERO_TILE512 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23

// PREFETCH_L2(p, n) (every micro-kernel): prefetches n 64-byte lines from p into L2
// (PREFETCHT1), the driver's share of the next B block; p and n are
// clobbered. Defines the labels pfloop and pfdone (once per function).
#define PREFETCH_L2(p, n) \
	TESTQ n, n; \
	JZ   pfdone; \
pfloop: \
	PREFETCHT1 (p); \
	ADDQ $64, p; \
	DECQ n; \
	JNZ  pfloop; \
pfdone:

// TILE512_ROWS loads the kernels' shared arguments a, lda and b (at 8, 16
// and 24(FP)): SI = A row 0, R10 = row 4, R11 = row 8, R8 = lda bytes,
// R9 = 3·lda bytes, DX = the panel.
#define TILE512_ROWS \
	MOVQ a+8(FP), SI; \
	MOVQ lda+16(FP), R8; \
	SHLQ $2, R8; \
	MOVQ b+24(FP), DX; \
	LEAQ (R8)(R8*2), R9; \
	LEAQ (SI)(R8*4), R10; \
	LEAQ (R10)(R8*4), R11

// TILE512_INIT starts the accumulators: the tile at acc (32(FP), rows
// ldacc floats apart, 40(FP)), or zero where acc is nil. Clobbers AX, BX;
// defines the labels tilezero and tiledone (once per function).
#define TILE512_INIT \
	MOVQ acc+32(FP), AX; \
	TESTQ AX, AX; \
	JZ   tilezero; \
	MOVQ ldacc+40(FP), BX; \
	SHLQ $2, BX; \
	LOAD_TILE512(AX, BX); \
	JMP  tiledone; \
tilezero: \
	ZERO_TILE512; \
tiledone:
