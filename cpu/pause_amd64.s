//go:build !purego

#include "textflag.h"

// func spinPause()
//
// PAUSE: a spin-wait hint (the pool's polling loops), so that a waiting
// thread yields the core's shared resources and leaves the loop without a
// memory-order flush.
TEXT ·spinPause(SB), NOSPLIT, $0-0
	PAUSE
	RET
