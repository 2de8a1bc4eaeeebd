package gpu

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	vk "github.com/vulkan-go/vulkan"
)

// physical is what Open needs to know about one physical device.
type physical struct {
	handle          vk.PhysicalDevice
	info            DeviceInfo
	family          int // compute queue family, -1 if none
	timestampBits   uint32
	storageAlign    int64
	maxStorageRange int64
	maxAlloc        int64
	maxAllocCount   int
	maxPush         int
	mem             memoryTypes
}

// enumerate lists the physical devices of an instance with their properties.
func enumerate(gipa C.PFN_vkGetInstanceProcAddr, inst vk.Instance) ([]physical, error) {
	var n uint32
	if r := vk.EnumeratePhysicalDevices(inst, &n, nil); r != vk.Success {
		return nil, vkErr("enumerating devices", r)
	}
	if n == 0 {
		return nil, fmt.Errorf("gpu: the Vulkan loader found no device: %w; %s", ErrNoDevice, installHint)
	}
	handles := make([]vk.PhysicalDevice, n)
	if r := vk.EnumeratePhysicalDevices(inst, &n, handles); r != vk.Success {
		return nil, vkErr("enumerating devices", r)
	}
	out := make([]physical, 0, n)
	for i, h := range handles[:n] {
		out = append(out, describe(gipa, inst, i, h))
	}
	return out, nil
}

// describe reads the properties, limits, queues and memory of one device.
func describe(gipa C.PFN_vkGetInstanceProcAddr, inst vk.Instance, index int, h vk.PhysicalDevice) physical {
	p := physical{handle: h, family: -1}
	var props vk.PhysicalDeviceProperties
	vk.GetPhysicalDeviceProperties(h, &props)
	props.Deref()
	props.Limits.Deref()
	lim := props.Limits
	props.Free()

	api := vk.Version(props.ApiVersion)
	info := DeviceInfo{
		Index:                   index,
		VendorID:                props.VendorID,
		DeviceID:                props.DeviceID,
		DriverVersion:           props.DriverVersion,
		PipelineCacheUUID:       props.PipelineCacheUUID,
		Name:                    vk.ToString(props.DeviceName[:]),
		APIVersion:              api.String(),
		MaxSharedMemory:         lim.MaxComputeSharedMemorySize,
		MaxWorkgroupInvocations: lim.MaxComputeWorkGroupInvocations,
		MaxWorkgroupSize:        lim.MaxComputeWorkGroupSize,
		MaxWorkgroupCount:       lim.MaxComputeWorkGroupCount,
		TimestampPeriod:         lim.TimestampPeriod,
	}
	switch props.DeviceType {
	case vk.PhysicalDeviceTypeIntegratedGpu:
		info.Type = DeviceIntegrated
	case vk.PhysicalDeviceTypeDiscreteGpu:
		info.Type = DeviceDiscrete
	case vk.PhysicalDeviceTypeVirtualGpu:
		info.Type = DeviceVirtual
	case vk.PhysicalDeviceTypeCpu:
		info.Type = DeviceCPU
	}
	p.storageAlign = int64(lim.MinStorageBufferOffsetAlignment)
	if p.storageAlign < 4 {
		p.storageAlign = 4
	}
	p.maxStorageRange = int64(lim.MaxStorageBufferRange)
	p.maxAllocCount = int(lim.MaxMemoryAllocationCount)
	p.maxPush = int(lim.MaxPushConstantsSize)

	// Vulkan 1.1/1.2 properties through vkGetPhysicalDeviceProperties2; the
	// instance asks for 1.2, so the usable version is the smaller of the two.
	eff := uint32(props.ApiVersion)
	if eff > vk.MakeVersion(1, 2, 0) {
		eff = vk.MakeVersion(1, 2, 0)
	}
	var p2 C.vkd_props2
	C.vkd_get_props2(gipa, cInstance(inst), cPhys(h), C.uint32_t(eff), &p2)
	info.SubgroupSize = uint32(p2.subgroupSize)
	p.maxAlloc = int64(p2.maxAlloc)
	if p2.haveDriver != 0 {
		info.DriverID = uint32(p2.driverID)
		info.Driver = C.GoString(&p2.driverName[0])
		if s := C.GoString(&p2.driverInfo[0]); s != "" {
			info.Driver += " (" + s + ")"
		}
	} else {
		info.Driver = fmt.Sprintf("vendor 0x%04x driver version 0x%x", props.VendorID, props.DriverVersion)
	}

	readFeatures(gipa, inst, h, eff, &info)

	// Queue family: the first compute family, preferring one with timestamps.
	var nq uint32
	vk.GetPhysicalDeviceQueueFamilyProperties(h, &nq, nil)
	fams := make([]vk.QueueFamilyProperties, nq)
	vk.GetPhysicalDeviceQueueFamilyProperties(h, &nq, fams)
	for i := range fams[:nq] {
		fams[i].Deref()
		if fams[i].QueueFlags&vk.QueueFlags(vk.QueueComputeBit) == 0 {
			continue
		}
		if p.family < 0 || (p.timestampBits == 0 && fams[i].TimestampValidBits > 0) {
			p.family = i
			p.timestampBits = fams[i].TimestampValidBits
		}
	}
	info.Timestamps = p.timestampBits > 0 && lim.TimestampPeriod > 0

	p.mem = readMemoryTypes(h, info.Type)
	info.DeviceLocalBytes = p.mem.deviceLocalBytes
	info.MaxStorageBufferRange = p.maxStorageRange
	info.Unified = p.mem.unified
	p.info = info
	return p
}

// Devices lists the Vulkan devices on this machine. With no loader or no
// device it returns an error wrapping ErrNoDevice that says what to install.
func Devices() ([]DeviceInfo, error) {
	gipa, err := loadVulkan()
	if err != nil {
		return nil, err
	}
	inst, err := newInstance(gipa, false, nil, io.Discard)
	if err != nil {
		return nil, err
	}
	defer inst.destroy(gipa)
	phys, err := enumerate(gipa, inst.handle)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, len(phys))
	for i, p := range phys {
		out[i] = p.info
	}
	return out, nil
}

// choose picks a device per sel (index or name substring) or, when sel is
// empty, per the default type preference.
func choose(phys []physical, sel string) (*physical, error) {
	usable := func(p *physical) bool { return p.family >= 0 }
	if sel != "" {
		if i, err := strconv.Atoi(sel); err == nil {
			if i < 0 || i >= len(phys) {
				return nil, fmt.Errorf("gpu: device index %d out of range: %s", i, listDevices(phys))
			}
			if !usable(&phys[i]) {
				return nil, fmt.Errorf("gpu: device %d (%s) has no compute queue", i, phys[i].info.Name)
			}
			return &phys[i], nil
		}
		for i := range phys {
			if strings.Contains(strings.ToLower(phys[i].info.Name), strings.ToLower(sel)) && usable(&phys[i]) {
				return &phys[i], nil
			}
		}
		return nil, fmt.Errorf("gpu: no device matches %q: %s", sel, listDevices(phys))
	}
	var best *physical
	for i := range phys {
		if usable(&phys[i]) && (best == nil || phys[i].info.Type.preference() > best.info.Type.preference()) {
			best = &phys[i]
		}
	}
	if best == nil {
		return nil, fmt.Errorf("gpu: no device has a compute queue: %w; %s", ErrNoDevice, installHint)
	}
	return best, nil
}

func listDevices(phys []physical) string {
	var b strings.Builder
	b.WriteString("available devices are")
	for i, p := range phys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %d: %q (%s)", p.info.Index, p.info.Name, p.info.Type)
	}
	return b.String()
}
