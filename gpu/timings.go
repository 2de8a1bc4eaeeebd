package gpu

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Timing is the GPU time of one recorded dispatch.
type Timing struct {
	Label string
	Nanos float64
}

// queriesPerPool is the number of timestamp queries per query pool.
const queriesPerPool = 512

// stamp locates the pair of timestamp queries of one dispatch.
type stamp struct {
	pool  int
	query uint32
}

// nextStamp reserves two timestamp queries, creating (and resetting in the
// command buffer) a new query pool when the last is full.
func (s *Sequence) nextStamp() (stamp, error) {
	n := len(s.stamps)
	per := queriesPerPool / 2
	if n%per == 0 {
		qci := &vk.QueryPoolCreateInfo{
			SType:      vk.StructureTypeQueryPoolCreateInfo,
			QueryType:  vk.QueryTypeTimestamp,
			QueryCount: queriesPerPool,
		}
		var qp vk.QueryPool
		r := vk.CreateQueryPool(s.d.dev, qci, nil, &qp)
		qci.Free()
		if r != vk.Success {
			return stamp{}, vkErr("creating query pool", r)
		}
		s.queryPools = append(s.queryPools, qp)
		C.vkd_reset_queries(s.d.fns, cCmd(s.cmd), cQueryPool(qp), queriesPerPool)
	}
	return stamp{pool: n / per, query: uint32(2 * (n % per))}, nil
}

// Timings returns the GPU time of every dispatch in recording order, from
// the last completed Run. The sequence must have been created with
// timestamps on a device that supports them.
func (s *Sequence) Timings() ([]Timing, error) {
	if err := s.d.enter("Timings"); err != nil {
		return nil, err
	}
	defer s.d.leave()
	if s.state == seqClosed {
		return nil, errors.New("gpu: Timings: sequence closed")
	}
	if !s.timestamps {
		if !s.d.info.Timestamps {
			return nil, fmt.Errorf("gpu: Timings: device %s does not support timestamp queries", s.d.info.Name)
		}
		return nil, errors.New("gpu: Timings: sequence was created without timestamps")
	}
	if err := s.settle(); err != nil {
		return nil, err
	}
	if !s.ran {
		return nil, errors.New("gpu: Timings: sequence has not run")
	}
	out := make([]Timing, len(s.stamps))
	raw := make([]uint64, queriesPerPool)
	per := queriesPerPool / 2
	for pi, qp := range s.queryPools {
		n := min(len(s.stamps)-pi*per, per)
		flags := vk.QueryResultFlags(vk.QueryResult64Bit | vk.QueryResultWaitBit)
		r := vk.GetQueryPoolResults(s.d.dev, qp, 0, uint32(2*n), uint(8*2*n), unsafe.Pointer(&raw[0]), 8, flags)
		if r != vk.Success {
			return nil, vkErr("reading timestamps", r)
		}
		for i := 0; i < n; i++ {
			t0, t1 := raw[2*i]&s.d.timestampMask, raw[2*i+1]&s.d.timestampMask
			ticks := (t1 - t0) & s.d.timestampMask
			idx := pi*per + i
			out[idx] = Timing{Label: s.labels[idx], Nanos: float64(ticks) * float64(s.d.info.TimestampPeriod)}
		}
	}
	return out, nil
}
