// tile_arm64.h: the accumulator tile of the NEON micro-kernels
// (gemm_arm64.s, gemm_bf16_arm64.s): six rows of 16 float32 lanes, row i in
// V(4i)…V(4i+3).

// LOAD_TILE(p, stride): V0–V23 = the six rows at p, stride bytes apart;
// p advances past them (post-increment).
#define LOAD_TILE(p, stride) \
	VLD1.P (p)(stride), [V0.S4, V1.S4, V2.S4, V3.S4]; \
	VLD1.P (p)(stride), [V4.S4, V5.S4, V6.S4, V7.S4]; \
	VLD1.P (p)(stride), [V8.S4, V9.S4, V10.S4, V11.S4]; \
	VLD1.P (p)(stride), [V12.S4, V13.S4, V14.S4, V15.S4]; \
	VLD1.P (p)(stride), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P (p)(stride), [V20.S4, V21.S4, V22.S4, V23.S4]

// ZERO_TILE: V0–V23 = 0.
#define ZERO_TILE \
	VEOR V0.B16, V0.B16, V0.B16; \
	VEOR V1.B16, V1.B16, V1.B16; \
	VEOR V2.B16, V2.B16, V2.B16; \
	VEOR V3.B16, V3.B16, V3.B16; \
	VEOR V4.B16, V4.B16, V4.B16; \
	VEOR V5.B16, V5.B16, V5.B16; \
	VEOR V6.B16, V6.B16, V6.B16; \
	VEOR V7.B16, V7.B16, V7.B16; \
	VEOR V8.B16, V8.B16, V8.B16; \
	VEOR V9.B16, V9.B16, V9.B16; \
	VEOR V10.B16, V10.B16, V10.B16; \
	VEOR V11.B16, V11.B16, V11.B16; \
	VEOR V12.B16, V12.B16, V12.B16; \
	VEOR V13.B16, V13.B16, V13.B16; \
	VEOR V14.B16, V14.B16, V14.B16; \
	VEOR V15.B16, V15.B16, V15.B16; \
	VEOR V16.B16, V16.B16, V16.B16; \
	VEOR V17.B16, V17.B16, V17.B16; \
	VEOR V18.B16, V18.B16, V18.B16; \
	VEOR V19.B16, V19.B16, V19.B16; \
	VEOR V20.B16, V20.B16, V20.B16; \
	VEOR V21.B16, V21.B16, V21.B16; \
	VEOR V22.B16, V22.B16, V22.B16; \
	VEOR V23.B16, V23.B16, V23.B16

// PREFETCH_L2(p, n): prefetches n 64-byte lines from p into L2 (PRFM
// PLDL2KEEP), the driver's share of the next B block; p and n are
// clobbered. Defines the labels pfloop and pfdone (once per function).
#define PREFETCH_L2(p, n) \
	CBZ  n, pfdone; \
pfloop: \
	PRFM (p), PLDL2KEEP; \
	ADD  $64, p; \
	SUBS $1, n; \
	BNE  pfloop; \
pfdone:
