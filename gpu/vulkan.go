package gpu

/*
#cgo LDFLAGS: -ldl -lpthread
#include "shim.h"
#include <stdlib.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// installHint tells a user what to install when Vulkan is missing.
const installHint = "install the Vulkan loader (Debian: apt-get install libvulkan1) and a driver " +
	"(mesa-vulkan-drivers gives the CPU driver lavapipe)"

// vulkanLib is the process-wide Vulkan loader state. The vulkan-go binding keeps
// its function pointers in C globals, so loading happens once per process;
// instMu serializes vk.InitInstance, which rewrites those globals, and every
// instance and device creation and destruction: a crash was seen once
// inside vkCreateInstance with the validation layer while tests opened and
// closed devices concurrently, and the layer keeps process-wide state.
var vulkanLib struct {
	once   sync.Once
	gipa   C.PFN_vkGetInstanceProcAddr
	err    error
	instMu sync.Mutex
}

// loadVulkan dlopens libvulkan.so.1 (falling back to libvulkan.so) and hands
// vkGetInstanceProcAddr to the binding. It never panics: a missing loader is
// an error wrapping ErrNoDevice.
func loadVulkan() (C.PFN_vkGetInstanceProcAddr, error) {
	vulkanLib.once.Do(func() {
		var gipa C.PFN_vkGetInstanceProcAddr
		if msg := C.vkd_load(&gipa); msg != nil {
			vulkanLib.err = fmt.Errorf("gpu: %s: %w; %s", C.GoString(msg), ErrNoDevice, installHint)
			return
		}
		vk.SetGetInstanceProcAddr(unsafe.Pointer(gipa))
		if err := vk.Init(); err != nil {
			vulkanLib.err = fmt.Errorf("gpu: initializing Vulkan: %v: %w; %s", err, ErrNoDevice, installHint)
			return
		}
		vulkanLib.gipa = gipa
	})
	return vulkanLib.gipa, vulkanLib.err
}

// vkErr turns a failed VkResult into an error naming the call; device and
// host memory exhaustion wrap ErrOutOfMemory.
func vkErr(what string, r vk.Result) error {
	if r == vk.Success {
		return nil
	}
	name := resultName(r)
	switch r {
	case vk.ErrorOutOfDeviceMemory, vk.ErrorOutOfHostMemory:
		return fmt.Errorf("gpu: %s: %s: %w", what, name, ErrOutOfMemory)
	case vk.ErrorInitializationFailed, vk.ErrorIncompatibleDriver:
		return fmt.Errorf("gpu: %s: %s: %w; %s", what, name, ErrNoDevice, installHint)
	}
	return fmt.Errorf("gpu: %s: %s", what, name)
}

func resultName(r vk.Result) string {
	switch r {
	case vk.NotReady:
		return "VK_NOT_READY"
	case vk.Timeout:
		return "VK_TIMEOUT"
	case vk.ErrorOutOfHostMemory:
		return "VK_ERROR_OUT_OF_HOST_MEMORY"
	case vk.ErrorOutOfDeviceMemory:
		return "VK_ERROR_OUT_OF_DEVICE_MEMORY"
	case vk.ErrorInitializationFailed:
		return "VK_ERROR_INITIALIZATION_FAILED"
	case vk.ErrorDeviceLost:
		return "VK_ERROR_DEVICE_LOST"
	case vk.ErrorMemoryMapFailed:
		return "VK_ERROR_MEMORY_MAP_FAILED"
	case vk.ErrorLayerNotPresent:
		return "VK_ERROR_LAYER_NOT_PRESENT"
	case vk.ErrorExtensionNotPresent:
		return "VK_ERROR_EXTENSION_NOT_PRESENT"
	case vk.ErrorFeatureNotPresent:
		return "VK_ERROR_FEATURE_NOT_PRESENT"
	case vk.ErrorIncompatibleDriver:
		return "VK_ERROR_INCOMPATIBLE_DRIVER"
	case vk.ErrorTooManyObjects:
		return "VK_ERROR_TOO_MANY_OBJECTS"
	case vk.ErrorFragmentedPool:
		return "VK_ERROR_FRAGMENTED_POOL"
	case vk.Result(C.VK_ERROR_OUT_OF_POOL_MEMORY):
		return "VK_ERROR_OUT_OF_POOL_MEMORY"
	}
	return fmt.Sprintf("VkResult %d", int32(r))
}

// Errors every caller can test for with errors.Is.
var (
	// ErrNoDevice reports that no Vulkan loader or no usable device exists.
	ErrNoDevice = errors.New("gpu: no Vulkan device")
	// ErrOutOfMemory reports that a device (or host) memory allocation failed
	// or could not fit in the device's memory heap.
	ErrOutOfMemory = errors.New("gpu: out of device memory")
	// ErrUnsupported reports that the device lacks a feature an operation
	// needs (fp16 storage and arithmetic for F16 arguments).
	ErrUnsupported = errors.New("gpu: not supported by the device")
)

// cstr returns s NUL-terminated, as the binding expects for strings it passes to C.
func cstr(s string) string { return s + "\x00" }

// Conversions between the binding's handle types and the shim's. Both are
// the same C handle; Go needs unsafe.Pointer to cross the package boundary.
func cBuffer(b vk.Buffer) C.VkBuffer                 { return C.VkBuffer(unsafe.Pointer(b)) }
func cCmd(b vk.CommandBuffer) C.VkCommandBuffer      { return C.VkCommandBuffer(unsafe.Pointer(b)) }
func cDevice(d vk.Device) C.VkDevice                 { return C.VkDevice(unsafe.Pointer(d)) }
func cInstance(i vk.Instance) C.VkInstance           { return C.VkInstance(unsafe.Pointer(i)) }
func cPhys(p vk.PhysicalDevice) C.VkPhysicalDevice   { return C.VkPhysicalDevice(unsafe.Pointer(p)) }
func cQueue(q vk.Queue) C.VkQueue                    { return C.VkQueue(unsafe.Pointer(q)) }
func cFence(f vk.Fence) C.VkFence                    { return C.VkFence(unsafe.Pointer(f)) }
func cPipeline(p vk.Pipeline) C.VkPipeline           { return C.VkPipeline(unsafe.Pointer(p)) }
func cLayout(l vk.PipelineLayout) C.VkPipelineLayout { return C.VkPipelineLayout(unsafe.Pointer(l)) }
func cSet(s vk.DescriptorSet) C.VkDescriptorSet      { return C.VkDescriptorSet(unsafe.Pointer(s)) }
func cModule(m vk.ShaderModule) C.VkShaderModule     { return C.VkShaderModule(unsafe.Pointer(m)) }
func cQueryPool(q vk.QueryPool) C.VkQueryPool        { return C.VkQueryPool(unsafe.Pointer(q)) }
