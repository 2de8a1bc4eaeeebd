//go:build !purego

#include "textflag.h"

// HSUM128(x, t): lane 0 of x = the sum of x's four lanes (t clobbered).
#define HSUM128(x, t) \
	VPERMILPS $0x4e, x, t; \
	VADDPS t, x, x; \
	VPERMILPS $0xb1, x, t; \
	VADDPS t, x, x

// func layerNormAVX512(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32)
//
// One row of LayerNorm, two passes in float32 over 16 lanes:
//   mean = Σx / n;  var = Σ(x − mean)² / n;  inv = 1/√(var + eps);
//   y = (x − mean)·inv·g + b.
// The last n mod 16 lanes go under the K3 mask (zero-filled loads, masked
// stores). Registers: Z0 sum, Z5 sum of squares, Z4 mean, Z7 inv, AX the
// walking pointer, BX the elements left, X2 = float32(n). y may be x.
TEXT ·layerNormAVX512(SB), NOSPLIT, $0-44
	MOVQ x+8(FP), SI
	MOVQ n+32(FP), CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K3
	MOVQ n+32(FP), CX
	VCVTSI2SSQ CX, X2, X2

	VPXORD Z0, Z0, Z0
	MOVQ SI, AX
	MOVQ CX, BX
sum512:
	CMPQ BX, $16
	JL   sumtail512
	VADDPS (AX), Z0, Z0
	ADDQ $64, AX
	SUBQ $16, BX
	JMP  sum512
sumtail512:
	TESTQ BX, BX
	JZ   mean512
	VMOVUPS.Z (AX), K3, Z1
	VADDPS Z1, Z0, Z0
mean512:
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	HSUM128(X0, X1)
	VDIVSS X2, X0, X0
	VBROADCASTSS X0, Z4

	VPXORD Z5, Z5, Z5
	MOVQ SI, AX
	MOVQ CX, BX
var512:
	CMPQ BX, $16
	JL   vartail512
	VSUBPS (AX), Z4, Z6
	VFMADD231PS Z6, Z6, Z5
	ADDQ $64, AX
	SUBQ $16, BX
	JMP  var512
vartail512:
	TESTQ BX, BX
	JZ   inv512
	VMOVUPS.Z (AX), K3, Z1
	VSUBPS.Z Z1, Z4, K3, Z6
	VFMADD231PS Z6, Z6, Z5
inv512:
	VEXTRACTF64X4 $1, Z5, Y1
	VADDPS Y1, Y5, Y5
	VEXTRACTF128 $1, Y5, X1
	VADDPS X1, X5, X5
	HSUM128(X5, X1)
	VDIVSS X2, X5, X5
	VMOVSS eps+40(FP), X8
	VADDSS X8, X5, X5
	VSQRTSS X5, X5, X5
	MOVL $0x3f800000, AX
	VMOVD AX, X6
	VDIVSS X5, X6, X6
	VBROADCASTSS X6, Z7

	MOVQ y+0(FP), DI
	MOVQ gamma+16(FP), R8
	MOVQ beta+24(FP), R9
	MOVQ SI, AX
	MOVQ CX, BX
norm512:
	CMPQ BX, $16
	JL   normtail512
	VMOVUPS (AX), Z8
	VSUBPS Z4, Z8, Z8
	VMULPS Z7, Z8, Z8
	VMOVUPS (R8), Z9
	VFMADD213PS (R9), Z9, Z8
	VMOVUPS Z8, (DI)
	ADDQ $64, AX
	ADDQ $64, DI
	ADDQ $64, R8
	ADDQ $64, R9
	SUBQ $16, BX
	JMP  norm512
normtail512:
	TESTQ BX, BX
	JZ   done512
	VMOVUPS.Z (AX), K3, Z8
	VSUBPS Z4, Z8, Z8
	VMULPS Z7, Z8, Z8
	VMOVUPS.Z (R8), K3, Z9
	VMOVUPS.Z (R9), K3, Z10
	VFMADD213PS Z10, Z9, Z8
	VMOVUPS Z8, K3, (DI)
done512:
	VZEROUPPER
	RET

// func layerNormAVX2(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32, mask *[16]int32)
//
// The same on 8 lanes; the last n mod 8 elements are read and written with
// VMASKMOVPS under Y3, the mask starting at mask[8 − n mod 8], and masked
// out of the variance with VANDPS.
TEXT ·layerNormAVX2(SB), NOSPLIT, $0-56
	MOVQ x+8(FP), SI
	MOVQ n+32(FP), CX
	MOVQ CX, DX
	ANDQ $7, DX
	MOVQ $8, AX
	SUBQ DX, AX
	MOVQ mask+48(FP), R10
	LEAQ (R10)(AX*4), R10
	VMOVUPS (R10), Y3
	VCVTSI2SSQ CX, X2, X2

	VXORPS Y0, Y0, Y0
	MOVQ SI, AX
	MOVQ CX, BX
sum2:
	CMPQ BX, $8
	JL   sumtail2
	VADDPS (AX), Y0, Y0
	ADDQ $32, AX
	SUBQ $8, BX
	JMP  sum2
sumtail2:
	TESTQ BX, BX
	JZ   mean2
	VMASKMOVPS (AX), Y3, Y1
	VADDPS Y1, Y0, Y0
mean2:
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	HSUM128(X0, X1)
	VDIVSS X2, X0, X0
	VBROADCASTSS X0, Y4

	VXORPS Y5, Y5, Y5
	MOVQ SI, AX
	MOVQ CX, BX
var2:
	CMPQ BX, $8
	JL   vartail2
	VSUBPS (AX), Y4, Y6
	VFMADD231PS Y6, Y6, Y5
	ADDQ $32, AX
	SUBQ $8, BX
	JMP  var2
vartail2:
	TESTQ BX, BX
	JZ   inv2
	VMASKMOVPS (AX), Y3, Y1
	VSUBPS Y1, Y4, Y6
	VANDPS Y3, Y6, Y6
	VFMADD231PS Y6, Y6, Y5
inv2:
	VEXTRACTF128 $1, Y5, X1
	VADDPS X1, X5, X5
	HSUM128(X5, X1)
	VDIVSS X2, X5, X5
	VMOVSS eps+40(FP), X8
	VADDSS X8, X5, X5
	VSQRTSS X5, X5, X5
	MOVL $0x3f800000, AX
	VMOVD AX, X6
	VDIVSS X5, X6, X6
	VBROADCASTSS X6, Y7

	MOVQ y+0(FP), DI
	MOVQ gamma+16(FP), R8
	MOVQ beta+24(FP), R9
	MOVQ SI, AX
	MOVQ CX, BX
norm2:
	CMPQ BX, $8
	JL   normtail2
	VMOVUPS (AX), Y8
	VSUBPS Y4, Y8, Y8
	VMULPS Y7, Y8, Y8
	VMOVUPS (R8), Y9
	VFMADD213PS (R9), Y9, Y8
	VMOVUPS Y8, (DI)
	ADDQ $32, AX
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	SUBQ $8, BX
	JMP  norm2
normtail2:
	TESTQ BX, BX
	JZ   done2
	VMASKMOVPS (AX), Y3, Y8
	VSUBPS Y4, Y8, Y8
	VMULPS Y7, Y8, Y8
	VMASKMOVPS (R8), Y3, Y9
	VMASKMOVPS (R9), Y3, Y10
	VFMADD213PS Y10, Y9, Y8
	VMASKMOVPS Y8, Y3, (DI)
done2:
	VZEROUPPER
	RET
