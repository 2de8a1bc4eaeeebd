package gpu

/*
#include "shim.h"
*/
import "C"

import (
	vk "github.com/vulkan-go/vulkan"
)

// span is a byte range of a memory block.
type span struct {
	blk    *block
	lo, hi int64
}

func (a span) overlaps(b span) bool { return a.blk == b.blk && a.lo < b.hi && b.lo < a.hi }

func overlapsAny(list []span, s span) bool {
	for _, x := range list {
		if x.overlaps(s) {
			return true
		}
	}
	return false
}

// hazard inserts a barrier if any access conflicts with the accesses
// recorded since the last barrier, then records these accesses.
func (s *Sequence) hazard(spans []span, writes []bool) {
	need := false
	for i, sp := range spans {
		if overlapsAny(s.writes, sp) || (writes[i] && overlapsAny(s.reads, sp)) {
			need = true
			break
		}
	}
	if need && !s.noBarriers {
		barrierMid(s.d.fns, s.cmd)
		s.barriers++
		s.writes = s.writes[:0]
		s.reads = s.reads[:0]
	}
	for i, sp := range spans {
		if writes[i] {
			s.writes = append(s.writes, sp)
		} else {
			s.reads = append(s.reads, sp)
		}
	}
}

// Barrier masks.
const (
	stageCompute  = uint32(vk.PipelineStageComputeShaderBit)
	stageTransfer = uint32(vk.PipelineStageTransferBit)
	stageHost     = uint32(vk.PipelineStageHostBit)
	accShaderR    = uint32(vk.AccessShaderReadBit)
	accShaderW    = uint32(vk.AccessShaderWriteBit)
	accTransferR  = uint32(vk.AccessTransferReadBit)
	accTransferW  = uint32(vk.AccessTransferWriteBit)
	accHostR      = uint32(vk.AccessHostReadBit)
	accHostW      = uint32(vk.AccessHostWriteBit)
)

// barrierMid orders compute and transfer work before it against compute
// and transfer work after it (the hazard barrier).
func barrierMid(f *C.vkd_fns, cmd vk.CommandBuffer) {
	C.vkd_barrier(f, cCmd(cmd), C.uint32_t(stageCompute|stageTransfer), C.uint32_t(stageCompute|stageTransfer),
		C.uint32_t(accShaderW|accTransferW), C.uint32_t(accShaderR|accShaderW|accTransferR|accTransferW))
}

// barrierIn starts a command buffer: earlier submissions' device writes and
// host writes become visible to this one's compute and transfer work.
func barrierIn(f *C.vkd_fns, cmd vk.CommandBuffer) {
	C.vkd_barrier(f, cCmd(cmd), C.uint32_t(stageCompute|stageTransfer|stageHost), C.uint32_t(stageCompute|stageTransfer),
		C.uint32_t(accShaderW|accTransferW|accHostW), C.uint32_t(accShaderR|accShaderW|accTransferR|accTransferW))
}

// barrierOut ends a command buffer: its writes become visible to the host.
func barrierOut(f *C.vkd_fns, cmd vk.CommandBuffer) {
	C.vkd_barrier(f, cCmd(cmd), C.uint32_t(stageCompute|stageTransfer), C.uint32_t(stageHost),
		C.uint32_t(accShaderW|accTransferW), C.uint32_t(accHostR|accHostW))
}
