package gpu

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Sequence states.
const (
	seqRecording = iota
	seqFinished
	seqClosed
)

// Sequence is a command buffer recorded once and replayed by Run. Dispatch
// and Copy record work, inserting a global memory barrier only when a
// command touches a range that an earlier command since the last barrier
// wrote (read-after-write, write-after-write) or read before this command
// writes it (write-after-read). A Sequence is used by one goroutine at a
// time.
type Sequence struct {
	d        *Device
	state    int
	inFlight bool // a cancelled Run left the submission pending
	ran      bool

	pool  vk.CommandPool
	cmd   vk.CommandBuffer
	fence vk.Fence

	descPools []vk.DescriptorPool
	descLeft  int // sets left in the last descriptor pool
	descsLeft int // storage-buffer descriptors left in the last pool

	timestamps bool
	queryPools []vk.QueryPool
	labels     []string
	stamps     []stamp

	writes, reads []span // accesses since the last barrier
	barriers      int
	lastPipe      *Pipeline
	noBarriers    bool  // tests only: record hazards without barriers
	err           error // first recording error; the sequence is unusable after one
}

// NewSequence starts recording a sequence. With timestamps set (and
// supported by the device), every dispatch is bracketed by timestamp
// queries read back by Timings.
func (d *Device) NewSequence(timestamps bool) (*Sequence, error) {
	if err := d.enter("NewSequence"); err != nil {
		return nil, err
	}
	defer d.leave()
	s := &Sequence{d: d, timestamps: timestamps && d.info.Timestamps}
	d.mu.Lock()
	d.sequences[s] = struct{}{}
	d.mu.Unlock()
	if err := s.init(); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

func (s *Sequence) init() error {
	d := s.d
	var err error
	if s.pool, s.cmd, err = d.newCommandBuffer(0); err != nil {
		return err
	}
	if s.fence, err = d.newFence(); err != nil {
		return err
	}
	bi := &vk.CommandBufferBeginInfo{SType: vk.StructureTypeCommandBufferBeginInfo}
	r := vk.BeginCommandBuffer(s.cmd, bi)
	bi.Free()
	if r != vk.Success {
		return vkErr("beginning command buffer", r)
	}
	// Order this replay after everything submitted before it (earlier runs,
	// uploads) and make host writes visible.
	barrierIn(d.fns, s.cmd)
	return nil
}

// Barriers returns how many hazard barriers recording has inserted so far
// (not counting the fixed ones at the start and end of the sequence).
func (s *Sequence) Barriers() int { return s.barriers }

func (s *Sequence) recording(op string) error {
	switch {
	case s.err != nil:
		return fmt.Errorf("gpu: %s: sequence broken by an earlier error: %w", op, s.err)
	case s.state == seqFinished:
		return fmt.Errorf("gpu: %s: sequence already finished", op)
	case s.state == seqClosed:
		return fmt.Errorf("gpu: %s: sequence closed", op)
	}
	return nil
}

// resolve checks a and returns its absolute span and descriptor offset/range.
func (s *Sequence) resolve(a Arg, what string) (span, error) {
	b := a.Buf
	if b == nil {
		b = s.d.dummy
		a.Offset, a.Size = 0, 0
	}
	if b.dev != s.d {
		return span{}, fmt.Errorf("%s: buffer belongs to another device", what)
	}
	s.d.mu.Lock()
	freed := b.freed
	s.d.mu.Unlock()
	if freed {
		return span{}, fmt.Errorf("%s: buffer was freed", what)
	}
	size := a.Size
	if size == 0 {
		size = b.size - a.Offset
	}
	if size <= 0 || !within(a.Offset, size, b.size) {
		return span{}, fmt.Errorf("%s: range offset %d size %d outside the %d-byte buffer", what, a.Offset, a.Size, b.size)
	}
	return span{blk: b.blk, lo: b.off + a.Offset, hi: b.off + a.Offset + size}, nil
}

// Dispatch records one dispatch of p over groups workgroups with push
// constants push (exactly p's PushBytes) and one Arg per binding. Its
// descriptor set is allocated and written here, once; replays reuse it.
func (s *Sequence) Dispatch(label string, p *Pipeline, groups [3]uint32, push []byte, args ...Arg) error {
	if err := s.d.enter("dispatch " + label); err != nil {
		return err
	}
	defer s.d.leave()
	if err := s.recording("dispatch " + label); err != nil {
		return err
	}
	if err := s.dispatch(label, p, groups, push, args); err != nil {
		return fmt.Errorf("gpu: dispatch %s: %w", label, err)
	}
	return nil
}

func (s *Sequence) dispatch(label string, p *Pipeline, groups [3]uint32, push []byte, args []Arg) error {
	d := s.d
	if p == nil || p.d != d {
		return errors.New("pipeline is nil or from another device")
	}
	k := p.kernel
	if len(args) != k.Bindings {
		return fmt.Errorf("kernel %s takes %d buffers, got %d", k.Name, k.Bindings, len(args))
	}
	if len(push) != k.PushBytes {
		return fmt.Errorf("kernel %s takes %d push-constant bytes, got %d", k.Name, k.PushBytes, len(push))
	}
	for i, g := range groups {
		if g > d.info.MaxWorkgroupCount[i] {
			return fmt.Errorf("%d workgroups in dimension %d exceed the device limit %d", g, i, d.info.MaxWorkgroupCount[i])
		}
	}
	spans := make([]span, len(args))
	writes := make([]bool, len(args))
	bufs := make([]C.VkBuffer, len(args))
	offs := make([]C.uint64_t, len(args))
	ranges := make([]C.uint64_t, len(args))
	for i, a := range args {
		sp, err := s.resolve(a, fmt.Sprintf("binding %d", i))
		if err != nil {
			return err
		}
		if sp.lo%d.storageAlign != 0 {
			return fmt.Errorf("binding %d: offset %d is not a multiple of the device's storage buffer alignment %d",
				i, a.Offset, d.storageAlign)
		}
		if sp.hi-sp.lo > d.maxStorageRange {
			return fmt.Errorf("binding %d: %d bytes exceed the device's storage buffer range %d", i, sp.hi-sp.lo, d.maxStorageRange)
		}
		spans[i] = sp
		writes[i] = a.Write || p.writable[i]
		bufs[i] = cBuffer(sp.blk.buf)
		offs[i] = C.uint64_t(sp.lo)
		ranges[i] = C.uint64_t(sp.hi - sp.lo)
	}
	set, err := s.allocSet(p)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		C.vkd_write_set(d.fns, cDevice(d.dev), cSet(set), C.uint32_t(len(args)), &bufs[0], &offs[0], &ranges[0])
	}
	var qp C.VkQueryPool
	var query uint32
	if s.timestamps {
		st, err := s.nextStamp()
		if err != nil {
			return err
		}
		qp, query = cQueryPool(s.queryPools[st.pool]), st.query
		s.labels = append(s.labels, label)
		s.stamps = append(s.stamps, st)
	}
	s.hazard(spans, writes)
	var pipe C.VkPipeline
	if s.lastPipe != p {
		pipe = cPipeline(p.pipe)
		s.lastPipe = p
	}
	var pushPtr unsafe.Pointer
	if len(push) > 0 {
		pushPtr = unsafe.Pointer(&push[0])
	}
	C.vkd_dispatch(d.fns, cCmd(s.cmd), pipe, cLayout(p.layout), cSet(set), pushPtr, C.uint32_t(len(push)),
		C.uint32_t(groups[0]), C.uint32_t(groups[1]), C.uint32_t(groups[2]), qp, C.uint32_t(query))
	return nil
}

// allocSet allocates a descriptor set for p from the sequence's pools,
// adding a pool (twice the last, up to 1024 sets) when the last cannot hold
// it. The pools' capacity is tracked here so allocation never relies on
// VK_ERROR_OUT_OF_POOL_MEMORY.
func (s *Sequence) allocSet(p *Pipeline) (vk.DescriptorSet, error) {
	d := s.d
	nb := p.kernel.Bindings
	if nb == 0 {
		return nil, nil
	}
	if s.descLeft == 0 || s.descsLeft < nb {
		n := min(1024, 64<<len(s.descPools))
		per := max(8, nb)
		sizes := []vk.DescriptorPoolSize{{Type: vk.DescriptorTypeStorageBuffer, DescriptorCount: uint32(n * per)}}
		pci := &vk.DescriptorPoolCreateInfo{
			SType:         vk.StructureTypeDescriptorPoolCreateInfo,
			MaxSets:       uint32(n),
			PoolSizeCount: 1,
			PPoolSizes:    sizes,
		}
		var pool vk.DescriptorPool
		r := vk.CreateDescriptorPool(d.dev, pci, nil, &pool)
		pci.Free()
		if r != vk.Success {
			return nil, vkErr("creating descriptor pool", r)
		}
		s.descPools = append(s.descPools, pool)
		s.descLeft, s.descsLeft = n, n*per
	}
	var set vk.DescriptorSet
	ai := &vk.DescriptorSetAllocateInfo{
		SType:              vk.StructureTypeDescriptorSetAllocateInfo,
		DescriptorPool:     s.descPools[len(s.descPools)-1],
		DescriptorSetCount: 1,
		PSetLayouts:        []vk.DescriptorSetLayout{p.setLayout},
	}
	r := vk.AllocateDescriptorSets(d.dev, ai, &set)
	ai.Free()
	if r != vk.Success {
		return nil, vkErr("allocating descriptor set", r)
	}
	s.descLeft--
	s.descsLeft -= nb
	return set, nil
}

// Copy records a buffer-to-buffer copy of src's range into dst (dst must be
// at least as large), with the same hazard tracking as Dispatch.
func (s *Sequence) Copy(dst, src Arg) error {
	if err := s.d.enter("Copy"); err != nil {
		return err
	}
	defer s.d.leave()
	if err := s.recording("Copy"); err != nil {
		return err
	}
	if dst.Buf == nil || src.Buf == nil {
		return errors.New("gpu: Copy: nil buffer")
	}
	ss, err := s.resolve(src, "Copy source")
	if err != nil {
		return fmt.Errorf("gpu: %w", err)
	}
	ds, err := s.resolve(dst, "Copy destination")
	if err != nil {
		return fmt.Errorf("gpu: %w", err)
	}
	n := ss.hi - ss.lo
	if ds.hi-ds.lo < n {
		return fmt.Errorf("gpu: Copy: %d-byte destination is smaller than the %d-byte source", ds.hi-ds.lo, n)
	}
	ds.hi = ds.lo + n
	if ds.overlaps(ss) {
		return errors.New("gpu: Copy: source and destination overlap")
	}
	s.hazard([]span{ss, ds}, []bool{false, true})
	C.vkd_copy(s.d.fns, cCmd(s.cmd), cBuffer(ss.blk.buf), cBuffer(ds.blk.buf), C.uint64_t(ss.lo), C.uint64_t(ds.lo), C.uint64_t(n), nil, 0)
	return nil
}

// Finish ends recording; Run may then be called any number of times.
func (s *Sequence) Finish() error {
	if err := s.d.enter("Finish"); err != nil {
		return err
	}
	defer s.d.leave()
	if err := s.recording("Finish"); err != nil {
		return err
	}
	// Make the results visible to the host (Read, Mapped) and to later
	// submissions.
	barrierOut(s.d.fns, s.cmd)
	if r := vk.EndCommandBuffer(s.cmd); r != vk.Success {
		s.err = vkErr("ending command buffer", r)
		return s.err
	}
	s.state = seqFinished
	return nil
}

// fenceWait is how long Run blocks on the fence between checks of its
// context.
const fenceWait = 10_000_000 // ns

// Run submits the recorded sequence once and waits for it to complete. If
// ctx is cancelled first, Run returns ctx.Err() at once; the GPU finishes
// the submission in the background and the next Run, Timings or Close waits
// for it.
func (s *Sequence) Run(ctx context.Context) error {
	if err := s.d.enter("Run"); err != nil {
		return err
	}
	defer s.d.leave()
	if err := s.finished("Run"); err != nil {
		return err
	}
	if err := s.settle(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.Submit(); err != nil {
		return err
	}
	return s.Wait(ctx)
}

// Submit submits the recorded sequence once and returns without waiting
// for it, so that the host can prepare the next submission meanwhile; Wait
// (or the next Submit, Run, Timings, Close) waits for it. Work submitted
// later on the device, by any sequence, runs after it: every sequence starts
// with a barrier against all earlier submissions.
func (s *Sequence) Submit() error {
	if err := s.d.enter("Submit"); err != nil {
		return err
	}
	defer s.d.leave()
	if err := s.finished("Submit"); err != nil {
		return err
	}
	if err := s.settle(); err != nil {
		return err
	}
	d := s.d
	d.queueMu.Lock()
	r := vk.Result(C.vkd_submit(d.fns, cQueue(d.queue), cCmd(s.cmd), cFence(s.fence)))
	d.queueMu.Unlock()
	if r != vk.Success {
		return vkErr("submitting sequence", r)
	}
	s.inFlight = true
	s.ran = false
	return nil
}

// Wait blocks until the last Submit has completed (at once when nothing is
// pending). If ctx is cancelled first it returns ctx.Err(), and the
// submission stays pending for the next Wait, Run or Close.
func (s *Sequence) Wait(ctx context.Context) error {
	if err := s.d.enter("Wait"); err != nil {
		return err
	}
	defer s.d.leave()
	if s.state == seqClosed {
		return errors.New("gpu: Wait: sequence closed")
	}
	if !s.inFlight {
		return nil
	}
	fences := []vk.Fence{s.fence}
	timeout := ^uint64(0)
	if ctx.Done() != nil {
		timeout = fenceWait
	}
	for {
		r := vk.WaitForFences(s.d.dev, 1, fences, vk.True, timeout)
		if r == vk.Success {
			break
		}
		if r != vk.Timeout {
			return vkErr("waiting for sequence", r)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return s.settle()
}

// finished checks that the sequence can be submitted.
func (s *Sequence) finished(op string) error {
	switch {
	case s.state == seqClosed:
		return fmt.Errorf("gpu: %s: sequence closed", op)
	case s.state != seqFinished:
		return fmt.Errorf("gpu: %s: sequence not finished (call Finish after recording)", op)
	}
	return nil
}

// settle waits for a pending submission and resets the fence.
func (s *Sequence) settle() error {
	if !s.inFlight {
		return nil
	}
	fences := []vk.Fence{s.fence}
	if r := vk.WaitForFences(s.d.dev, 1, fences, vk.True, ^uint64(0)); r != vk.Success {
		return vkErr("waiting for sequence", r)
	}
	if r := vk.ResetFences(s.d.dev, 1, fences); r != vk.Success {
		return vkErr("resetting fence", r)
	}
	s.inFlight = false
	s.ran = true
	return nil
}

// Close waits for a pending run and frees the sequence's command buffer,
// descriptor sets and queries. Closing twice is a no-op, and so is closing
// after the device was closed (which freed the sequence).
func (s *Sequence) Close() {
	if s.d.enter("Close") != nil {
		return
	}
	defer s.d.leave()
	s.release()
}

// release frees the sequence unless the device already has (or will: it
// is no longer registered). The caller has entered the device.
func (s *Sequence) release() {
	d := s.d
	d.mu.Lock()
	_, live := d.sequences[s]
	delete(d.sequences, s)
	d.mu.Unlock()
	if live {
		s.destroy()
	}
}

// destroy frees the sequence's Vulkan objects.
func (s *Sequence) destroy() {
	d := s.d
	if s.state == seqClosed {
		return
	}
	_ = s.settle()
	for _, p := range s.descPools {
		vk.DestroyDescriptorPool(d.dev, p, nil)
	}
	for _, q := range s.queryPools {
		vk.DestroyQueryPool(d.dev, q, nil)
	}
	if s.fence != nil {
		vk.DestroyFence(d.dev, s.fence, nil)
	}
	if s.pool != nil {
		vk.DestroyCommandPool(d.dev, s.pool, nil)
	}
	s.descPools, s.queryPools = nil, nil
	s.state = seqClosed
}
