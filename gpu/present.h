// present.h declares the C side of presentation (present.go): surfaces,
// swapchains and the per-frame copy of a host buffer into a swapchain image.
// It is in C for the same reasons as shim.h: the calls take arrays and
// structs of handles, and the extension functions are not in the binding.
#ifndef VKDEIT_PRESENT_H
#define VKDEIT_PRESENT_H

#include "shim.h"

// Surfaces are passed as uint64_t (a VkSurfaceKHR's bits) so that Go never
// turns an integer into a pointer.
VkResult vkd_surface_support(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, uint32_t family, uint64_t surface, int *supported);
void vkd_surface_destroy(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, uint64_t surface);
VkResult vkd_headless_surface(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, uint64_t *out);

// vkd_swapchain is one swapchain with what a frame needs: a command buffer,
// a fence for the frame in flight, the semaphore acquisition signals and one
// "copied" semaphore per image for presentation to wait on. The fields up to
// the marker are read by Go.
#define VKD_MAX_IMAGES 8
typedef struct vkd_swapchain {
	uint32_t width, height;
	uint32_t format; // VkFormat
	int bgra;        // the image's bytes are B, G, R, A
	uint32_t nimages;
	// --- private ---
	VkDevice dev;
	VkQueue queue;
	VkSwapchainKHR handle;
	VkImage images[VKD_MAX_IMAGES];
	VkCommandPool pool;
	VkCommandBuffer cmd;
	VkFence fence;
	int pending; // fence is awaited: a frame was submitted since the last wait
	VkSemaphore acquired;
	VkSemaphore copied[VKD_MAX_IMAGES];
	PFN_vkDestroySwapchainKHR destroySwapchain;
	PFN_vkAcquireNextImageKHR acquire;
	PFN_vkQueuePresentKHR present;
	PFN_vkQueueSubmit submit;
	PFN_vkQueueWaitIdle queueWaitIdle;
	PFN_vkCmdPipelineBarrier barrier;
	PFN_vkCmdCopyBufferToImage copyToImage;
	PFN_vkCmdCopyImageToBuffer copyToBuffer;
	PFN_vkBeginCommandBuffer begin;
	PFN_vkEndCommandBuffer end;
	PFN_vkResetCommandBuffer reset;
	PFN_vkWaitForFences waitFences;
	PFN_vkResetFences resetFences;
	PFN_vkDestroyFence destroyFence;
	PFN_vkDestroySemaphore destroySemaphore;
	PFN_vkDestroyCommandPool destroyPool;
} vkd_swapchain;

// vkd_swapchain_new creates a swapchain of about width×height (the surface
// may impose its own size) on a queue of family that can present to surface.
// On failure it returns NULL with *res the failing result and *what the call.
vkd_swapchain *vkd_swapchain_new(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, VkDevice dev,
	VkQueue queue, uint32_t family, uint64_t surface, uint32_t width, uint32_t height, VkResult *res, const char **what);
// vkd_swapchain_wait waits for the frame in flight, if any.
VkResult vkd_swapchain_wait(vkd_swapchain *s);
// vkd_swapchain_present acquires an image, copies src (tightly packed rows
// of 4-byte pixels at offset off) into it, copies it on into readback when
// readback is not VK_NULL_HANDLE, and queues it for presentation. The caller
// has waited (vkd_swapchain_wait) and holds the queue. *what names the
// failing call.
VkResult vkd_swapchain_present(vkd_swapchain *s, VkBuffer src, uint64_t off, VkBuffer readback, uint64_t roff, const char **what);
// vkd_swapchain_free waits for the queue to go idle (the caller holds it)
// and destroys the swapchain and its objects.
void vkd_swapchain_free(vkd_swapchain *s);

#endif
