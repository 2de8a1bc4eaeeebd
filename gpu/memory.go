package gpu

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// Memory is sub-allocated: a block is one vkAllocateMemory plus one VkBuffer
// spanning it, and a Buffer is an aligned range of a block. Drivers cap the
// number of allocations (often at 4096) and allocation is slow, so tensors
// never get memory of their own unless they are larger than half a block.
const (
	deviceBlockSize  = 64 << 20 // bytes per device-local block
	stagingBlockSize = 16 << 20 // bytes per host-visible staging block
	stagingChunk     = 8 << 20  // bytes moved per staging round trip in Write/Read
	minAlign         = 64       // sub-allocation alignment floor (a cache line)
)

// Pools a block can belong to.
const (
	poolDevice  = 0 // storage buffers: device-local (host-visible and mapped on Unified devices)
	poolStaging = 1 // host-visible, host-coherent, mapped
)

// memoryType is one Vulkan memory type.
type memoryType struct {
	flags    vk.MemoryPropertyFlags
	heap     int
	heapSize int64
}

// memoryTypes is a device's memory types and what Open concluded from them.
type memoryTypes struct {
	types            []memoryType
	unified          bool
	deviceLocalBytes uint64
}

const (
	memDeviceLocal  = vk.MemoryPropertyFlags(vk.MemoryPropertyDeviceLocalBit)
	memHostVisible  = vk.MemoryPropertyFlags(vk.MemoryPropertyHostVisibleBit)
	memHostCoherent = vk.MemoryPropertyFlags(vk.MemoryPropertyHostCoherentBit)
	memHostCached   = vk.MemoryPropertyFlags(vk.MemoryPropertyHostCachedBit)
)

func readMemoryTypes(h vk.PhysicalDevice, t DeviceType) memoryTypes {
	var mp vk.PhysicalDeviceMemoryProperties
	vk.GetPhysicalDeviceMemoryProperties(h, &mp)
	mp.Deref()
	var m memoryTypes
	heaps := make([]vk.MemoryHeap, mp.MemoryHeapCount)
	for i := range heaps {
		heaps[i] = mp.MemoryHeaps[i]
		heaps[i].Deref()
		if heaps[i].Flags&vk.MemoryHeapFlags(vk.MemoryHeapDeviceLocalBit) != 0 && uint64(heaps[i].Size) > m.deviceLocalBytes {
			m.deviceLocalBytes = uint64(heaps[i].Size)
		}
	}
	for i := 0; i < int(mp.MemoryTypeCount); i++ {
		mt := mp.MemoryTypes[i]
		mt.Deref()
		m.types = append(m.types, memoryType{flags: mt.PropertyFlags, heap: int(mt.HeapIndex), heapSize: int64(heaps[mt.HeapIndex].Size)})
		all := memDeviceLocal | memHostVisible | memHostCoherent
		if mt.PropertyFlags&all == all && (t == DeviceCPU || t == DeviceIntegrated) {
			m.unified = true
		}
	}
	mp.Free()
	return m
}

// pick returns the index of a memory type allowed by bits that has all of
// need, preferring one that also has all of want, then the largest heap (so
// a small host-visible BAR window never wins over the real VRAM heap); -1
// when none.
func (m *memoryTypes) pick(bits uint32, need, want vk.MemoryPropertyFlags) int {
	best := -1
	better := func(i int) bool {
		if best < 0 {
			return true
		}
		bw := m.types[best].flags&want == want
		iw := m.types[i].flags&want == want
		if bw != iw {
			return iw
		}
		return m.types[i].heapSize > m.types[best].heapSize
	}
	for i, t := range m.types {
		if bits&(1<<i) != 0 && t.flags&need == need && better(i) {
			best = i
		}
	}
	return best
}

// block is one device memory allocation with a buffer bound over all of it.
type block struct {
	pool   int
	mem    vk.DeviceMemory
	buf    vk.Buffer
	size   int64
	used   int64
	live   int    // buffers handed out and not yet freed
	mapped []byte // the whole block, nil when not host-visible
}

func (b *block) destroy(d *Device) {
	if b.mapped != nil {
		vk.UnmapMemory(d.dev, b.mem)
		b.mapped = nil
	}
	if b.buf != nil {
		vk.DestroyBuffer(d.dev, b.buf, nil)
	}
	if b.mem != nil {
		vk.FreeMemory(d.dev, b.mem, nil)
	}
}

// Buffer is a range of a large memory block that kernels bind as a storage
// buffer. It lives until Free or until its Device is closed.
type Buffer struct {
	dev   *Device
	blk   *block
	off   int64 // offset within blk
	size  int64
	freed bool
}

// Free gives the buffer back. Sub-allocation is a bump pointer, so the space
// is reused only once every buffer of its block has been freed: the block is
// then returned to the driver. Buffers allocated together (one model's
// weights, one engine's activations) therefore come back together. The
// buffer must not be used afterwards, nor by a sequence that still runs.
// Free is idempotent and does nothing after Device.Close.
func (b *Buffer) Free() {
	d := b.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if b.freed || d.closed {
		return
	}
	b.freed = true
	blk := b.blk
	blk.live--
	if blk.live > 0 {
		return
	}
	for i, x := range d.blocks {
		if x == blk {
			d.blocks = append(d.blocks[:i], d.blocks[i+1:]...)
			break
		}
	}
	blk.destroy(d)
}

// Size returns the buffer's size in bytes as requested.
func (b *Buffer) Size() int64 { return b.size }

// Mapped returns the buffer's bytes in host memory, or nil when the buffer
// is not host-visible (device-local memory of a discrete GPU). Writes become
// visible to the next Sequence.Run; reads see the results of completed runs.
func (b *Buffer) Mapped() []byte {
	if b.blk.mapped == nil {
		return nil
	}
	return b.blk.mapped[b.off : b.off+b.size : b.off+b.size]
}

// NewBuffer returns a storage buffer of the given size in device-local
// memory (host-visible and mapped on Unified devices). Contents start
// undefined. A request that cannot fit returns an error wrapping
// ErrOutOfMemory.
func (d *Device) NewBuffer(bytes int64) (*Buffer, error) {
	return d.alloc(poolDevice, bytes)
}

// NewStagingBuffer returns a host-visible, mapped buffer, usable as a copy
// source or destination (and bindable by kernels).
func (d *Device) NewStagingBuffer(bytes int64) (*Buffer, error) {
	pool := poolStaging
	if d.mem.unified {
		pool = poolDevice // device memory is host-visible already
	}
	return d.alloc(pool, bytes)
}

func (d *Device) align() int64 {
	a := d.storageAlign
	if a < minAlign {
		a = minAlign
	}
	return a
}

func (d *Device) alloc(pool int, bytes int64) (*Buffer, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("gpu: buffer size %d must be positive", bytes)
	}
	align := d.align()
	if bytes > 1<<62 {
		return nil, fmt.Errorf("gpu: buffer of %d bytes: %w", bytes, ErrOutOfMemory)
	}
	rounded := (bytes + align - 1) / align * align
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, &closedError{"NewBuffer"}
	}
	for _, b := range d.blocks {
		if b.pool == pool && b.size-b.used >= rounded {
			buf := &Buffer{dev: d, blk: b, off: b.used, size: bytes}
			b.used += rounded
			b.live++
			return buf, nil
		}
	}
	size := int64(deviceBlockSize)
	if pool == poolStaging {
		size = stagingBlockSize
	}
	if rounded > size/2 {
		size = rounded // dedicated block
	}
	b, err := d.newBlock(pool, size)
	if err != nil {
		return nil, fmt.Errorf("gpu: buffer of %d bytes: %w", bytes, err)
	}
	d.blocks = append(d.blocks, b)
	b.used = rounded
	b.live = 1
	return &Buffer{dev: d, blk: b, off: 0, size: bytes}, nil
}

// newBlock allocates one memory block with a buffer over it and maps it
// when it is host-visible. d.mu is held.
func (d *Device) newBlock(pool int, size int64) (*block, error) {
	if d.maxAllocCount > 0 && len(d.blocks) >= d.maxAllocCount {
		return nil, fmt.Errorf("device allows only %d memory allocations: %w", d.maxAllocCount, ErrOutOfMemory)
	}
	if d.maxAlloc > 0 && size > d.maxAlloc {
		return nil, fmt.Errorf("%d bytes exceed the device's largest allocation (%d bytes): %w", size, d.maxAlloc, ErrOutOfMemory)
	}
	need, want := memDeviceLocal, memDeviceLocal
	mapped := false
	switch {
	case pool == poolStaging:
		need, want = memHostVisible|memHostCoherent, memHostVisible|memHostCoherent|memHostCached
		mapped = true
	case d.mem.unified:
		need, want = memDeviceLocal|memHostVisible|memHostCoherent, memDeviceLocal|memHostVisible|memHostCoherent
		mapped = true
	}
	// Check the heap before creating anything: asking for more than a heap
	// holds is invalid usage, not just a failed allocation.
	largest := int64(0)
	for _, t := range d.mem.types {
		if t.flags&need == need && t.heapSize > largest {
			largest = t.heapSize
		}
	}
	if size > largest {
		return nil, fmt.Errorf("%d bytes exceed the %d-byte memory heap: %w", size, largest, ErrOutOfMemory)
	}

	b := &block{pool: pool, size: size}
	bci := &vk.BufferCreateInfo{
		SType:       vk.StructureTypeBufferCreateInfo,
		Size:        vk.DeviceSize(size),
		Usage:       vk.BufferUsageFlags(vk.BufferUsageStorageBufferBit | vk.BufferUsageTransferSrcBit | vk.BufferUsageTransferDstBit),
		SharingMode: vk.SharingModeExclusive,
	}
	var buf vk.Buffer
	r := vk.CreateBuffer(d.dev, bci, nil, &buf)
	b.buf = buf
	bci.Free()
	if r != vk.Success {
		return nil, vkErr("creating buffer", r)
	}
	var req vk.MemoryRequirements
	vk.GetBufferMemoryRequirements(d.dev, b.buf, &req)
	req.Deref()
	req.Free()
	ti := d.mem.pick(req.MemoryTypeBits, need, want)
	if ti < 0 {
		b.destroy(d)
		return nil, fmt.Errorf("gpu: no memory type with flags %#x for storage buffers", uint32(need))
	}
	if int64(req.Size) > d.mem.types[ti].heapSize {
		b.destroy(d)
		return nil, fmt.Errorf("%d bytes exceed the %d-byte memory heap: %w", int64(req.Size), d.mem.types[ti].heapSize, ErrOutOfMemory)
	}
	mai := &vk.MemoryAllocateInfo{
		SType:           vk.StructureTypeMemoryAllocateInfo,
		AllocationSize:  req.Size,
		MemoryTypeIndex: uint32(ti),
	}
	var mem vk.DeviceMemory
	r = vk.AllocateMemory(d.dev, mai, nil, &mem)
	b.mem = mem
	mai.Free()
	if r != vk.Success {
		b.mem = nil
		b.destroy(d)
		return nil, vkErr("allocating device memory", r)
	}
	if r := vk.BindBufferMemory(d.dev, b.buf, b.mem, 0); r != vk.Success {
		b.destroy(d)
		return nil, vkErr("binding buffer memory", r)
	}
	if mapped {
		var p unsafe.Pointer
		if r := vk.MapMemory(d.dev, b.mem, 0, vk.DeviceSize(size), 0, &p); r != vk.Success {
			b.destroy(d)
			return nil, vkErr("mapping memory", r)
		}
		b.mapped = unsafe.Slice((*byte)(p), size)
	}
	return b, nil
}

// Write copies data into b starting at byte offset: a memcpy when b is
// mapped, otherwise through a staging buffer and a one-off submission.
func (d *Device) Write(b *Buffer, offset int64, data []float32) error {
	if len(data) == 0 {
		return d.writeBytes("Write", b, offset, nil)
	}
	return d.writeBytes("Write", b, offset, unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data)))
}

// Read copies len(out) floats from b starting at byte offset.
func (d *Device) Read(b *Buffer, offset int64, out []float32) error {
	if len(out) == 0 {
		return d.readBytes("Read", b, offset, nil)
	}
	return d.readBytes("Read", b, offset, unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*len(out)))
}

// WriteHalf is Write for binary16 data (the bits, as Half makes them).
func (d *Device) WriteHalf(b *Buffer, offset int64, data []uint16) error {
	if len(data) == 0 {
		return d.writeBytes("WriteHalf", b, offset, nil)
	}
	return d.writeBytes("WriteHalf", b, offset, unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 2*len(data)))
}

// ReadHalf is Read for binary16 data.
func (d *Device) ReadHalf(b *Buffer, offset int64, out []uint16) error {
	if len(out) == 0 {
		return d.readBytes("ReadHalf", b, offset, nil)
	}
	return d.readBytes("ReadHalf", b, offset, unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 2*len(out)))
}

func (d *Device) writeBytes(op string, b *Buffer, offset int64, src []byte) error {
	if err := d.enter(op); err != nil {
		return err
	}
	defer d.leave()
	n := int64(len(src))
	if err := d.checkRange(op, b, offset, n); err != nil || n == 0 {
		return err
	}
	if m := b.Mapped(); m != nil {
		copy(m[offset:], src)
		return nil
	}
	return d.transfer(b, offset, src, true)
}

func (d *Device) readBytes(op string, b *Buffer, offset int64, dst []byte) error {
	if err := d.enter(op); err != nil {
		return err
	}
	defer d.leave()
	n := int64(len(dst))
	if err := d.checkRange(op, b, offset, n); err != nil || n == 0 {
		return err
	}
	if m := b.Mapped(); m != nil {
		copy(dst, m[offset:])
		return nil
	}
	return d.transfer(b, offset, dst, false)
}

func (d *Device) checkRange(op string, b *Buffer, offset, n int64) error {
	if b == nil {
		return fmt.Errorf("gpu: %s: nil buffer", op)
	}
	if b.dev != d {
		return fmt.Errorf("gpu: %s: buffer belongs to another device", op)
	}
	d.mu.Lock()
	closed, freed := d.closed, b.freed
	d.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("gpu: %s: device is closed", op)
	case freed:
		return fmt.Errorf("gpu: %s: buffer was freed", op)
	}
	if !within(offset, n, b.size) {
		return fmt.Errorf("gpu: %s: range at offset %d of %d bytes outside the %d-byte buffer", op, offset, n, b.size)
	}
	return nil
}

// transfer moves bytes between host memory and a device-local buffer through
// the device's staging buffer, one chunk per submission.
func (d *Device) transfer(b *Buffer, offset int64, host []byte, toDevice bool) error {
	d.queueMu.Lock()
	defer d.queueMu.Unlock()
	if d.staging == nil {
		st, err := d.alloc(poolStaging, stagingChunk)
		if err != nil {
			return err
		}
		d.staging = st
	}
	st := d.staging
	for done := int64(0); done < int64(len(host)); done += stagingChunk {
		n := min(int64(len(host))-done, stagingChunk)
		if toDevice {
			copy(st.Mapped(), host[done:done+n])
		}
		src, dst := st, b
		srcOff, dstOff := st.off, b.off+offset+done
		if !toDevice {
			src, dst = b, st
			srcOff, dstOff = b.off+offset+done, st.off
		}
		err := d.oneOff(func(cmd vk.CommandBuffer) {
			C.vkd_copy(d.fns, cCmd(cmd), cBuffer(src.blk.buf), cBuffer(dst.blk.buf),
				C.uint64_t(srcOff), C.uint64_t(dstOff), C.uint64_t(n), nil, 0)
		})
		if err != nil {
			return err
		}
		if !toDevice {
			copy(host[done:done+n], st.Mapped()[:n])
		}
	}
	return nil
}

// oneOff records cmds into the device's one-off command buffer between
// barriers that order it after all earlier work and make its writes visible
// to the host, submits it and waits. d.queueMu is held.
func (d *Device) oneOff(record func(cmd vk.CommandBuffer)) error {
	cmd := d.oneCmd
	if r := vk.ResetCommandBuffer(cmd, 0); r != vk.Success {
		return vkErr("resetting command buffer", r)
	}
	bi := &vk.CommandBufferBeginInfo{
		SType: vk.StructureTypeCommandBufferBeginInfo,
		Flags: vk.CommandBufferUsageFlags(vk.CommandBufferUsageOneTimeSubmitBit),
	}
	r := vk.BeginCommandBuffer(cmd, bi)
	bi.Free()
	if r != vk.Success {
		return vkErr("beginning command buffer", r)
	}
	barrierIn(d.fns, cmd)
	record(cmd)
	barrierOut(d.fns, cmd)
	if r := vk.EndCommandBuffer(cmd); r != vk.Success {
		return vkErr("ending command buffer", r)
	}
	return d.submitWait(cmd, d.oneFence)
}

// submitWait submits cmd and blocks until it completes. d.queueMu is held.
func (d *Device) submitWait(cmd vk.CommandBuffer, fence vk.Fence) error {
	if r := vk.Result(C.vkd_submit(d.fns, cQueue(d.queue), cCmd(cmd), cFence(fence))); r != vk.Success {
		return vkErr("submitting", r)
	}
	fences := []vk.Fence{fence}
	if r := vk.WaitForFences(d.dev, 1, fences, vk.True, ^uint64(0)); r != vk.Success {
		return vkErr("waiting for fence", r)
	}
	if r := vk.ResetFences(d.dev, 1, fences); r != vk.Success {
		return vkErr("resetting fence", r)
	}
	return nil
}

// within reports whether the n bytes at offset lie inside a size-byte buffer.
// It is written so that no sum can overflow: offset and n come from callers.
func within(offset, n, size int64) bool {
	return offset >= 0 && n >= 0 && offset <= size && n <= size-offset
}
