//go:build !purego

#include "textflag.h"
#include "vecmath_arm64.h"

// func softmaxNEON(p *float32, n int, scale float32, c *vecConsts)
//
// One row of scores in place: p[i] = exp(scale·(p[i] − m)) / Σ, m = max p,
// three passes over n floats, n a positive multiple of 4 (the attention
// rows are padded with −Inf to a multiple of 32; their exp is 0). Pass 1:
// V15 = running max, reduced by FMAXV and broadcast. Pass 2: EXP4 on V9
// (V10 result, V11–V14 temps, EXP_CONSTS in V23, V28–V31), stored, summed
// in V16 (four lanes, then pairwise). Pass 3: times 1/Σ (V17, one FDIVS).
// R0 = p, R1 = n, R2/R3 the pass's pointer and count, V18 = scale.
TEXT ·softmaxNEON(SB), NOSPLIT, $0-32
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	MOVD c+24(FP), R11
	EXP_CONSTS

	FMOVQ (R0), F15
	MOVD R0, R2
	MOVD R1, R3
max:
	FMOVQ.P 16(R2), F9
	FMAX4(15, 15, 9)
	SUBS $4, R3
	BNE  max
	FMAXV4(15, 15)
	VDUP V15.S[0], V15.S4
	FMOVS scale+16(FP), F18
	VDUP V18.S[0], V18.S4

	VEOR V16.B16, V16.B16, V16.B16
	MOVD R0, R2
	MOVD R1, R3
exp:
	FMOVQ (R2), F9
	FSUB4(9, 9, 15)
	FMUL4(9, 9, 18)
	EXP4
	FMOVQ.P F10, 16(R2)
	FADD4(16, 16, 10)
	SUBS $4, R3
	BNE  exp
	FADDP4(16, 16, 16)
	FADDP4(16, 16, 16)
	FMOVS $1.0, F17
	FDIVS F16, F17, F17
	VDUP V17.S[0], V17.S4

	MOVD R0, R2
	MOVD R1, R3
norm:
	FMOVQ (R2), F9
	FMUL4(9, 9, 17)
	FMOVQ.P F9, 16(R2)
	SUBS $4, R3
	BNE  norm
	RET
