//go:build !purego

#include "textflag.h"
#include "vecmath_arm64.h"

// func layerNormNEON(y *float32, x *float32, gamma *float32, beta *float32, n int, eps float32)
//
// One row of LayerNorm, two passes in float32, four lanes a step and the
// last n mod 4 elements one at a time (scalar FP on lane 0):
//   mean = Σx / n;  var = Σ(x − mean)² / n;  inv = 1/√(var + eps);
//   y = (x − mean)·inv·g + b  (the last step one fused multiply-add).
// The four lane sums are added pairwise (FADDP twice) before the scalar
// tail joins them. Registers: V0 sum, V5 sum of squares, V4 mean and V7
// inv (broadcast; S4, S7 their lane 0), F2 = float32(n); R4 the walking
// x pointer, R5–R7 y, gamma, beta; R2 = n/4 vectors, R3 = n mod 4, R10/R11
// the counters. y may be x.
TEXT ·layerNormNEON(SB), NOSPLIT, $0-44
	MOVD x+8(FP), R0
	MOVD n+32(FP), R1
	LSR  $2, R1, R2
	AND  $3, R1, R3
	SCVTFS R1, F2

	VEOR V0.B16, V0.B16, V0.B16
	MOVD R0, R4
	MOVD R2, R10
	CBZ  R10, sumred
sum:
	FMOVQ.P 16(R4), F1
	FADD4(0, 0, 1)
	SUBS $1, R10
	BNE  sum
sumred:
	FADDP4(0, 0, 0)
	FADDP4(0, 0, 0)
	MOVD R3, R11
	CBZ  R11, mean
sumtail:
	FMOVS.P 4(R4), F1
	FADDS F1, F0, F0
	SUBS $1, R11
	BNE  sumtail
mean:
	FDIVS F2, F0, F0
	VDUP V0.S[0], V4.S4

	VEOR V5.B16, V5.B16, V5.B16
	MOVD R0, R4
	MOVD R2, R10
	CBZ  R10, varred
var:
	FMOVQ.P 16(R4), F6
	FSUB4(6, 6, 4)
	VFMLA V6.S4, V6.S4, V5.S4
	SUBS $1, R10
	BNE  var
varred:
	FADDP4(5, 5, 5)
	FADDP4(5, 5, 5)
	MOVD R3, R11
	CBZ  R11, inv
vartail:
	FMOVS.P 4(R4), F6
	FSUBS F4, F6, F6
	FMADDS F6, F5, F6, F5
	SUBS $1, R11
	BNE  vartail
inv:
	FDIVS F2, F5, F5
	FMOVS eps+40(FP), F8
	FADDS F8, F5, F5
	FSQRTS F5, F5
	FMOVS $1.0, F6
	FDIVS F5, F6, F6
	VDUP V6.S[0], V7.S4

	MOVD y+0(FP), R5
	MOVD gamma+16(FP), R6
	MOVD beta+24(FP), R7
	MOVD R0, R4
	MOVD R2, R10
	CBZ  R10, normtail0
norm:
	FMOVQ.P 16(R4), F8
	FSUB4(8, 8, 4)
	FMUL4(8, 8, 7)
	FMOVQ.P 16(R6), F9
	FMOVQ.P 16(R7), F10
	VFMLA V9.S4, V8.S4, V10.S4
	FMOVQ.P F10, 16(R5)
	SUBS $1, R10
	BNE  norm
normtail0:
	MOVD R3, R11
	CBZ  R11, done
normtail:
	FMOVS.P 4(R4), F8
	FSUBS F4, F8, F8
	FMULS F7, F8, F8
	FMOVS.P 4(R6), F9
	FMOVS.P 4(R7), F10
	FMADDS F9, F10, F8, F10
	FMOVS.P F10, 4(R5)
	SUBS $1, R11
	BNE  normtail
done:
	RET
