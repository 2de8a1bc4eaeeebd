//go:build !purego

#include "textflag.h"

// func spinPause()
//
// YIELD: a spin-wait hint (the pool's polling loops).
TEXT ·spinPause(SB), NOSPLIT, $0-0
	YIELD
	RET
