package gpu

/*
#include "shim.h"
#include <stdlib.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// DeviceType classifies a Vulkan physical device.
type DeviceType int

// Device types, as Vulkan reports them.
const (
	DeviceOther DeviceType = iota
	DeviceIntegrated
	DeviceDiscrete
	DeviceVirtual
	DeviceCPU
)

// String returns a short lower-case name such as "discrete" or "cpu".
func (t DeviceType) String() string {
	switch t {
	case DeviceIntegrated:
		return "integrated"
	case DeviceDiscrete:
		return "discrete"
	case DeviceVirtual:
		return "virtual"
	case DeviceCPU:
		return "cpu"
	}
	return "other"
}

// preference ranks device types for the default choice: discrete >
// integrated > virtual > CPU > other.
func (t DeviceType) preference() int {
	switch t {
	case DeviceDiscrete:
		return 4
	case DeviceIntegrated:
		return 3
	case DeviceVirtual:
		return 2
	case DeviceCPU:
		return 1
	}
	return 0
}

// DeviceInfo describes a physical device: what it is and the limits kernels
// are written against.
type DeviceInfo struct {
	Index                   int // position in Vulkan's enumeration order (what $VKDEIT_DEVICE=N selects)
	Name                    string
	Type                    DeviceType
	Driver                  string // driver name and version, e.g. "llvmpipe (Mesa 22.3.6 ...)"
	APIVersion              string // e.g. "1.3.230"
	MaxSharedMemory         uint32 // bytes of workgroup-shared memory
	MaxWorkgroupInvocations uint32
	MaxWorkgroupSize        [3]uint32
	MaxWorkgroupCount       [3]uint32
	SubgroupSize            uint32  // 0 when the device cannot report it
	Timestamps              bool    // compute queue supports timestamp queries
	TimestampPeriod         float32 // nanoseconds per timestamp tick
	DeviceLocalBytes        uint64  // size of the largest device-local heap
	MaxStorageBufferRange   int64   // largest range one storage-buffer binding may cover (128 MiB on lavapipe)
	Unified                 bool    // device-local memory is also host-visible (CPU/integrated): no staging copies

	VendorID uint32 // PCI vendor ID (0x10de NVIDIA, 0x1002 AMD, 0x8086 Intel, 0x10005 Mesa)
	DriverID uint32 // VkDriverId, 0 when unknown
	// DeviceID, DriverVersion and PipelineCacheUUID identify the device
	// and the driver build (VkPhysicalDeviceProperties); the tuning cache
	// (tune_cache.go) is keyed by them, since a new driver can change which
	// kernel configuration is fastest.
	DeviceID          uint32
	DriverVersion     uint32
	PipelineCacheUUID [16]byte

	// Features beyond Vulkan 1.0 (read through Vulkan 1.2; false on 1.1
	// devices). FP16 reports the two the fp16 kernels need.
	ShaderFloat16      bool // fp16 arithmetic in shaders
	StorageBuffer16Bit bool // fp16 values in storage buffers
	VulkanMemoryModel  bool // required by every cooperative-matrix shader
	// CoopMatShapes is every VK_KHR_cooperative_matrix shape the driver
	// reports (empty without the extension).
	CoopMatShapes []CoopMatShape
	// CoopMat reports whether vkdeit uses cooperative matrices on this
	// device: the driver has an fp16×fp16→fp32 subgroup shape and the
	// features above, its vendor is trusted (drivers that over-report are
	// gated, see CoopMatNote) and Options.NoCoopMat is unset.
	CoopMat bool
	// CoopMatNote says why CoopMat is what it is.
	CoopMatNote string
}

// Options control which device Open picks and how.
type Options struct {
	// Select picks a device by index (Vulkan enumeration order) or by a
	// case-insensitive substring of its name; "" means the default
	// preference (discrete > integrated > virtual > CPU).
	Select string
	// Validation enables VK_LAYER_KHRONOS_validation with synchronization
	// validation and records every message it emits (see
	// Device.ValidationMessages).
	Validation bool
	// Log, when non-nil, receives the package's notes (a validation layer
	// that is not installed) and, at Close, every validation message. The
	// package writes nothing anywhere else.
	Log io.Writer

	// ForceStaging makes the device behave like a discrete GPU even when
	// its memory is host-visible: buffers are not mapped and Write, Read
	// and recorded copies go through staging buffers. It exists to test
	// the discrete-GPU path on a CPU or integrated device.
	ForceStaging bool

	// NoCoopMat keeps cooperative matrices off even where the device
	// offers them (the fp16 kernels then use plain fp16 arithmetic).
	// $VKDEIT_COOPMAT=0 sets it through OptionsFromEnv.
	NoCoopMat bool

	// InstanceExtensions are Vulkan instance extensions to enable besides
	// the package's own: for presentation, VK_KHR_surface and the window
	// system's surface extension (what GLFW's
	// GetRequiredInstanceExtensions lists). Open fails naming any that the
	// loader does not offer.
	InstanceExtensions []string
	// Surface, when set, makes the device able to present (see
	// NewSwapchain). Open calls it once the instance exists, with the
	// VkInstance handle, and it returns a VkSurfaceKHR created on that
	// instance (for example by GLFW's CreateWindowSurface). Open then
	// requires that the chosen device's queue can present to the surface,
	// enables VK_KHR_swapchain, and the Device owns the surface: Close
	// destroys it.
	Surface func(instance unsafe.Pointer) (surface uintptr, err error)
	// CacheDir, when set, is where the device's kernel tuning is read
	// from (LoadTuning; Device.Tuning): Ops made on the device run the
	// tuned configurations. The device also keeps its Vulkan pipeline
	// cache there (PipelineCachePath): loaded at Open, saved at Close when
	// it built pipelines the file lacked, so that the next process
	// compiles nothing this one compiled. Without it nothing is written.
	// OptionsFromEnv sets DefaultCacheDir().
	CacheDir string
}

// Device is an open Vulkan device with one compute queue. Its methods are
// safe for concurrent use; a Sequence is not, and must be used by one
// goroutine at a time.
type Device struct {
	info DeviceInfo
	log  io.Writer
	// echo writes validation messages to log at Close (validation is on
	// and the caller gave a Log).
	echo bool

	gipa     C.PFN_vkGetInstanceProcAddr
	instance vk.Instance
	phys     vk.PhysicalDevice
	dev      vk.Device
	queue    vk.Queue
	family   uint32
	fns      *C.vkd_fns

	// validation
	vlog      *C.vkd_log
	messenger C.VkDebugUtilsMessengerEXT
	msgMu     sync.Mutex
	msgs      []string

	// limits
	storageAlign    int64
	maxStorageRange int64
	maxAlloc        int64
	maxAllocCount   int
	maxPush         int
	timestampMask   uint64

	// presentation (Options.Surface): the surface, 0 when none
	surface uint64

	// memory
	mem memoryTypes

	mu        sync.Mutex // guards everything below
	closed    bool
	active    int       // calls between enter and leave
	idle      sync.Cond // on mu: signalled when active drops to 0 after closed is set
	blocks    []*block
	pipelines map[string]*Pipeline
	sequences map[*Sequence]struct{}
	swaps     map[*Swapchain]struct{}
	dummy     *Buffer // bound for zero Args

	// tuning and tuningNote: the kernel tuning (tune_cache.go).
	tuning     *Tuning
	tuningNote string
	// pcache is the Vulkan pipeline cache (pipeline_cache.go).
	pcache pipelineCache

	queueMu  sync.Mutex // guards queue submission and the one-off command buffer
	oneFence vk.Fence
	onePool  vk.CommandPool
	oneCmd   vk.CommandBuffer
	staging  *Buffer // reusable staging buffer for Write/Read on non-unified devices
}

// OptionsFromEnv returns the Options that vkdeit's environment variables
// ask for: $VKDEIT_DEVICE as Select, $VKDEIT_VALIDATION=1 as Validation and
// $VKDEIT_COOPMAT=0 as NoCoopMat, and DefaultCacheDir() ($XDG_CACHE_HOME)
// as CacheDir. Open itself reads no environment; programs
// call this to honour them.
func OptionsFromEnv() Options {
	return Options{
		Select:     os.Getenv("VKDEIT_DEVICE"),
		Validation: os.Getenv("VKDEIT_VALIDATION") == "1",
		NoCoopMat:  os.Getenv("VKDEIT_COOPMAT") == "0",
		CacheDir:   DefaultCacheDir(),
	}
}

// Open opens a device chosen per opts and creates its compute queue.
func Open(opts Options) (*Device, error) {
	gipa, err := loadVulkan()
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	inst, err := newInstance(gipa, opts.Validation, opts.InstanceExtensions, log)
	if err != nil {
		return nil, err
	}
	d := &Device{
		log:       log,
		gipa:      gipa,
		instance:  inst.handle,
		vlog:      inst.vlog,
		messenger: inst.messenger,
		echo:      inst.validation && opts.Log != nil,
		pipelines: map[string]*Pipeline{},
		sequences: map[*Sequence]struct{}{},
		swaps:     map[*Swapchain]struct{}{},
	}
	d.idle.L = &d.mu
	if opts.Surface != nil {
		if err := d.createSurface(opts.Surface); err != nil {
			d.Close()
			return nil, err
		}
	}
	if err := d.open(opts); err != nil {
		d.Close()
		return nil, err
	}
	d.openPipelineCache(opts.CacheDir)
	// An unreadable tuning file is ignored like a corrupt one: the
	// heuristics run every kernel correctly.
	if d.tuning, d.tuningNote, err = LoadTuning(opts.CacheDir, d.info); err != nil {
		d.tuningNote = "ignored: " + err.Error()
	}
	return d, nil
}

func (d *Device) open(opts Options) error {
	phys, err := enumerate(d.gipa, d.instance)
	if err != nil {
		return err
	}
	p, err := choose(phys, opts.Select)
	if err != nil {
		return err
	}
	d.phys = p.handle
	d.info = p.info
	d.family = uint32(p.family)
	d.storageAlign = p.storageAlign
	d.maxStorageRange = p.maxStorageRange
	d.maxAlloc = p.maxAlloc
	d.maxAllocCount = p.maxAllocCount
	d.maxPush = p.maxPush
	d.mem = p.mem
	if opts.ForceStaging {
		d.mem.unified = false
		d.info.Unified = false
	}
	if p.timestampBits >= 64 {
		d.timestampMask = ^uint64(0)
	} else {
		d.timestampMask = 1<<p.timestampBits - 1
	}
	qci := vk.DeviceQueueCreateInfo{
		SType:            vk.StructureTypeDeviceQueueCreateInfo,
		QueueFamilyIndex: d.family,
		QueueCount:       1,
		PQueuePriorities: []float32{1},
	}
	if opts.NoCoopMat && d.info.CoopMat {
		d.info.CoopMat = false
		d.info.CoopMatNote = "not used: turned off (Options.NoCoopMat, $VKDEIT_COOPMAT=0)"
	}
	// Enable exactly what the device offers of what the kernels use.
	var en C.vkd_features
	if d.info.FP16() {
		en.shaderFloat16, en.storageBuffer16BitAccess = 1, 1
	}
	if d.info.VulkanMemoryModel {
		en.vulkanMemoryModel = 1
	}
	var exts []string
	if d.info.CoopMat {
		en.cooperativeMatrix = 1
		exts = append(exts, cstr("VK_KHR_cooperative_matrix"))
	}
	if d.surface != 0 {
		if err := d.checkPresent(); err != nil {
			return err
		}
		exts = append(exts, cstr(swapchainExtension))
	}
	var pnext unsafe.Pointer
	if en.shaderFloat16 != 0 || en.vulkanMemoryModel != 0 {
		pnext = C.vkd_device_pnext(&en)
		if pnext == nil {
			return fmt.Errorf("gpu: %s: out of host memory for the feature chain", d.info.Name)
		}
		defer C.free(pnext)
	}
	dci := &vk.DeviceCreateInfo{
		SType:                   vk.StructureTypeDeviceCreateInfo,
		PNext:                   pnext,
		QueueCreateInfoCount:    1,
		PQueueCreateInfos:       []vk.DeviceQueueCreateInfo{qci},
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: exts,
	}
	var dev vk.Device
	vulkanLib.instMu.Lock() // object lifetimes serialized process-wide, as instances are
	r := vk.CreateDevice(d.phys, dci, nil, &dev)
	vulkanLib.instMu.Unlock()
	dci.Free()
	if r != vk.Success {
		return vkErr("creating device "+d.info.Name, r)
	}
	d.dev = dev
	var queue vk.Queue
	vk.GetDeviceQueue(d.dev, d.family, 0, &queue)
	d.queue = queue
	d.fns = C.vkd_fns_load(d.gipa, cInstance(d.instance), cDevice(d.dev))
	if d.fns == nil {
		return fmt.Errorf("gpu: %s: cannot load device functions", d.info.Name)
	}

	if d.onePool, d.oneCmd, err = d.newCommandBuffer(vk.CommandPoolCreateFlags(vk.CommandPoolCreateResetCommandBufferBit)); err != nil {
		return err
	}
	if d.oneFence, err = d.newFence(); err != nil {
		return err
	}
	d.dummy, err = d.NewBuffer(16)
	return err
}

// newCommandBuffer creates a command pool on the compute queue family and
// one primary command buffer from it. On error the pool, if any, is
// returned too so the caller's cleanup destroys it.
func (d *Device) newCommandBuffer(flags vk.CommandPoolCreateFlags) (vk.CommandPool, vk.CommandBuffer, error) {
	pci := &vk.CommandPoolCreateInfo{SType: vk.StructureTypeCommandPoolCreateInfo, Flags: flags, QueueFamilyIndex: d.family}
	var pool vk.CommandPool
	r := vk.CreateCommandPool(d.dev, pci, nil, &pool)
	pci.Free()
	if r != vk.Success {
		return nil, nil, vkErr("creating command pool", r)
	}
	cmds := make([]vk.CommandBuffer, 1)
	ai := &vk.CommandBufferAllocateInfo{
		SType:              vk.StructureTypeCommandBufferAllocateInfo,
		CommandPool:        pool,
		Level:              vk.CommandBufferLevelPrimary,
		CommandBufferCount: 1,
	}
	r = vk.AllocateCommandBuffers(d.dev, ai, cmds)
	ai.Free()
	if r != vk.Success {
		return pool, nil, vkErr("allocating command buffer", r)
	}
	return pool, cmds[0], nil
}

func (d *Device) newFence() (vk.Fence, error) {
	var f vk.Fence
	fci := &vk.FenceCreateInfo{SType: vk.StructureTypeFenceCreateInfo}
	r := vk.CreateFence(d.dev, fci, nil, &f)
	fci.Free()
	return f, vkErr("creating fence", r)
}

// Info describes the opened device.
func (d *Device) Info() DeviceInfo { return d.info }

// ErrClosed is wrapped by the error of every call on a closed Device and on
// the sequences and buffers it made.
var ErrClosed = errors.New("gpu: device is closed")

// closedError is op's ErrClosed.
type closedError struct{ op string }

func (e *closedError) Error() string        { return "gpu: " + e.op + ": device is closed" }
func (e *closedError) Is(target error) bool { return target == ErrClosed }

// enter registers a call that uses the device's Vulkan objects, so that
// Close waits for it before destroying them; it fails once Close has begun.
// Every successful enter is paired with a leave.
func (d *Device) enter(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return &closedError{op}
	}
	d.active++
	return nil
}

// leave ends a call registered by enter.
func (d *Device) leave() {
	d.mu.Lock()
	d.active--
	if d.active == 0 && d.closed {
		d.idle.Broadcast()
	}
	d.mu.Unlock()
}

// Close waits for the calls in flight on other goroutines (sequence runs and
// recording, Write, Read) to return and for the device to go idle, then frees
// everything created through it: sequences, pipelines, buffers and their
// memory blocks, the device and its instance. Every later call on the device
// or on what it made fails with an error wrapping ErrClosed (Sequence.Close
// and Buffer.Free do nothing). Closing twice is a no-op.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	seqs := make([]*Sequence, 0, len(d.sequences))
	for s := range d.sequences {
		seqs = append(seqs, s)
	}
	clear(d.sequences) // they are destroyed here, not by Sequence.Close
	swaps := make([]*Swapchain, 0, len(d.swaps))
	for s := range d.swaps {
		swaps = append(swaps, s)
	}
	clear(d.swaps) // likewise
	for d.active > 0 {
		d.idle.Wait()
	}
	d.mu.Unlock()

	var err error
	if d.dev != nil {
		// vkDeviceWaitIdle needs the queue externally synchronized, like
		// every submission.
		d.queueMu.Lock()
		r := vk.DeviceWaitIdle(d.dev)
		d.queueMu.Unlock()
		if r != vk.Success {
			err = vkErr("waiting for device idle", r)
		}
		for _, s := range seqs {
			s.destroy()
		}
		for _, s := range swaps {
			s.destroy()
		}
		d.closePipelineCache()
		for _, p := range d.pipelines {
			p.destroy(d)
		}
		d.pipelines = nil
		for _, b := range d.blocks {
			b.destroy(d)
		}
		d.blocks = nil
		if d.oneFence != nil {
			vk.DestroyFence(d.dev, d.oneFence, nil)
		}
		if d.onePool != nil {
			vk.DestroyCommandPool(d.dev, d.onePool, nil)
		}
		vulkanLib.instMu.Lock()
		vk.DestroyDevice(d.dev, nil)
		vulkanLib.instMu.Unlock()
		d.dev = nil
	}
	if d.fns != nil {
		C.vkd_fns_free(d.fns)
		d.fns = nil
	}
	d.destroySurface()
	inst := instance{handle: d.instance, messenger: d.messenger}
	inst.destroy(d.gipa)
	d.msgMu.Lock()
	d.drainLocked()
	if d.vlog != nil {
		C.vkd_log_free(d.vlog)
		d.vlog = nil
	}
	if d.echo {
		for _, m := range d.msgs {
			fmt.Fprintf(d.log, "gpu: validation: %s\n", m)
		}
	}
	d.msgMu.Unlock()
	return err
}
