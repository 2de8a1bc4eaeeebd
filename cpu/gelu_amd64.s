//go:build !purego

#include "textflag.h"
#include "vecmath_amd64.h"

// func geluAVX512(dst *float32, src *float32, n int, c *vecConsts)
//
// dst[i] = gelu(src[i]) for i < n (dst may be src), 16 lanes per step
// (GELU512), the last n mod 16 under the K3 mask.
TEXT ·geluAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), R11

loop512:
	CMPQ CX, $16
	JL   tail512
	VMOVUPS (SI), Z0
	GELU512
	VMOVUPS Z10, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  loop512

tail512:
	TESTQ CX, CX
	JZ   done512
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K3
	VMOVUPS.Z (SI), K3, Z0
	GELU512
	VMOVUPS Z10, K3, (DI)

done512:
	VZEROUPPER
	RET

// func geluAVX2(dst *float32, src *float32, n int, c *vecConsts, mask *[16]int32)
//
// The same on 8 lanes (GELU256); the last n mod 8 elements are loaded and
// stored with VMASKMOVPS under the mask that starts at mask[8 − n mod 8].
TEXT ·geluAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), R11

loop2:
	CMPQ CX, $8
	JL   tail2
	VMOVUPS (SI), Y0
	GELU256
	VMOVUPS Y10, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  loop2

tail2:
	TESTQ CX, CX
	JZ   done2
	MOVQ mask+32(FP), AX
	MOVQ $8, DX
	SUBQ CX, DX
	LEAQ (AX)(DX*4), AX
	VMOVUPS (AX), Y1
	VMASKMOVPS (SI), Y1, Y0
	GELU256
	VMOVUPS (AX), Y1
	VMASKMOVPS Y10, Y1, (DI)

done2:
	VZEROUPPER
	RET
