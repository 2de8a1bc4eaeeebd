//go:build !purego

#include "textflag.h"
#include "vecmath_arm64.h"

// func geluNEONAsm(dst *float32, src *float32, n int, c *vecConsts)
//
// dst[i] = gelu(src[i]) for i < n (dst may be src), n a positive multiple
// of 4 (geluNEON routes the tail through a padded copy): four lanes a step,
// GELU4 of vecmath_arm64.h on V0 into V10. R0 = src, R1 = dst, R2 = n
// left, R11 = the constant table.
TEXT ·geluNEONAsm(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R1
	MOVD src+8(FP), R0
	MOVD n+16(FP), R2
	MOVD c+24(FP), R11
	GELU_CONSTS

loop:
	FMOVQ.P 16(R0), F0
	GELU4
	FMOVQ.P F10, 16(R1)
	SUBS $4, R2
	BNE  loop
	RET
