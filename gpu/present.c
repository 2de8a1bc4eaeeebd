// present.c implements present.h.
#include "present.h"

#include <stdlib.h>
#include <string.h>

// The handle/integer conversions: VkSurfaceKHR is a pointer on 64-bit
// platforms and a uint64_t on 32-bit ones.
static VkSurfaceKHR to_surface(uint64_t s) { return (VkSurfaceKHR)(uintptr_t)s; }

VkResult vkd_surface_support(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, uint32_t family, uint64_t surface, int *supported) {
	PFN_vkGetPhysicalDeviceSurfaceSupportKHR f = (PFN_vkGetPhysicalDeviceSurfaceSupportKHR)gipa(inst, "vkGetPhysicalDeviceSurfaceSupportKHR");
	*supported = 0;
	if (f == NULL) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	VkBool32 ok = VK_FALSE;
	VkResult r = f(pd, family, to_surface(surface), &ok);
	*supported = ok == VK_TRUE;
	return r;
}

void vkd_surface_destroy(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, uint64_t surface) {
	PFN_vkDestroySurfaceKHR f = (PFN_vkDestroySurfaceKHR)gipa(inst, "vkDestroySurfaceKHR");
	if (f != NULL && surface != 0) {
		f(inst, to_surface(surface), NULL);
	}
}

VkResult vkd_headless_surface(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, uint64_t *out) {
	PFN_vkCreateHeadlessSurfaceEXT f = (PFN_vkCreateHeadlessSurfaceEXT)gipa(inst, "vkCreateHeadlessSurfaceEXT");
	*out = 0;
	if (f == NULL) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	VkHeadlessSurfaceCreateInfoEXT ci = {.sType = VK_STRUCTURE_TYPE_HEADLESS_SURFACE_CREATE_INFO_EXT};
	VkSurfaceKHR s = VK_NULL_HANDLE;
	VkResult r = f(inst, &ci, NULL, &s);
	*out = (uint64_t)(uintptr_t)s;
	return r;
}

// pick_format returns the index of the first of the 8-bit RGBA/BGRA formats
// among fmts (UNORM before SRGB: the bytes are shown as they are either
// way, as no conversion happens in a copy), or -1.
static int pick_format(const VkSurfaceFormatKHR *fmts, uint32_t n) {
	static const VkFormat want[] = {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM, VK_FORMAT_B8G8R8A8_SRGB, VK_FORMAT_R8G8B8A8_SRGB};
	for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
		for (uint32_t i = 0; i < n; i++) {
			if (fmts[i].format == want[w] && fmts[i].colorSpace == VK_COLOR_SPACE_SRGB_NONLINEAR_KHR) {
				return (int)i;
			}
		}
	}
	return -1;
}

static uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi) {
	if (v < lo) {
		return lo;
	}
	if (v > hi) {
		return hi;
	}
	return v;
}

vkd_swapchain *vkd_swapchain_new(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, VkDevice dev,
	VkQueue queue, uint32_t family, uint64_t surface, uint32_t width, uint32_t height, VkResult *res, const char **what) {
#define FAIL(r, name)          \
	do {                       \
		*res = (r);            \
		*what = (name);        \
		vkd_swapchain_free(s); \
		return NULL;           \
	} while (0)
	*res = VK_SUCCESS;
	*what = NULL;
	PFN_vkGetDeviceProcAddr gdpa = (PFN_vkGetDeviceProcAddr)gipa(inst, "vkGetDeviceProcAddr");
	PFN_vkGetPhysicalDeviceSurfaceCapabilitiesKHR caps_fn = (PFN_vkGetPhysicalDeviceSurfaceCapabilitiesKHR)gipa(inst, "vkGetPhysicalDeviceSurfaceCapabilitiesKHR");
	PFN_vkGetPhysicalDeviceSurfaceFormatsKHR fmts_fn = (PFN_vkGetPhysicalDeviceSurfaceFormatsKHR)gipa(inst, "vkGetPhysicalDeviceSurfaceFormatsKHR");
	if (gdpa == NULL || caps_fn == NULL || fmts_fn == NULL) {
		*res = VK_ERROR_EXTENSION_NOT_PRESENT;
		*what = "loading VK_KHR_surface functions";
		return NULL;
	}
	vkd_swapchain *s = calloc(1, sizeof *s);
	if (s == NULL) {
		*res = VK_ERROR_OUT_OF_HOST_MEMORY;
		*what = "allocating the swapchain state";
		return NULL;
	}
	s->dev = dev;
	s->queue = queue;
	// Loaded first: vkd_swapchain_free uses them to undo a partial setup.
#define LOAD(field, type, name)                                      \
	s->field = (type)gdpa(dev, name);                                \
	if (s->field == NULL) {                                          \
		FAIL(VK_ERROR_EXTENSION_NOT_PRESENT, "loading " name);       \
	}
	LOAD(destroySwapchain, PFN_vkDestroySwapchainKHR, "vkDestroySwapchainKHR");
	LOAD(acquire, PFN_vkAcquireNextImageKHR, "vkAcquireNextImageKHR");
	LOAD(present, PFN_vkQueuePresentKHR, "vkQueuePresentKHR");
	LOAD(submit, PFN_vkQueueSubmit, "vkQueueSubmit");
	LOAD(queueWaitIdle, PFN_vkQueueWaitIdle, "vkQueueWaitIdle");
	LOAD(barrier, PFN_vkCmdPipelineBarrier, "vkCmdPipelineBarrier");
	LOAD(copyToImage, PFN_vkCmdCopyBufferToImage, "vkCmdCopyBufferToImage");
	LOAD(copyToBuffer, PFN_vkCmdCopyImageToBuffer, "vkCmdCopyImageToBuffer");
	LOAD(begin, PFN_vkBeginCommandBuffer, "vkBeginCommandBuffer");
	LOAD(end, PFN_vkEndCommandBuffer, "vkEndCommandBuffer");
	LOAD(reset, PFN_vkResetCommandBuffer, "vkResetCommandBuffer");
	LOAD(waitFences, PFN_vkWaitForFences, "vkWaitForFences");
	LOAD(resetFences, PFN_vkResetFences, "vkResetFences");
	LOAD(destroyFence, PFN_vkDestroyFence, "vkDestroyFence");
	LOAD(destroySemaphore, PFN_vkDestroySemaphore, "vkDestroySemaphore");
	LOAD(destroyPool, PFN_vkDestroyCommandPool, "vkDestroyCommandPool");
#undef LOAD
	PFN_vkCreateSwapchainKHR create = (PFN_vkCreateSwapchainKHR)gdpa(dev, "vkCreateSwapchainKHR");
	PFN_vkGetSwapchainImagesKHR getImages = (PFN_vkGetSwapchainImagesKHR)gdpa(dev, "vkGetSwapchainImagesKHR");
	PFN_vkCreateCommandPool createPool = (PFN_vkCreateCommandPool)gdpa(dev, "vkCreateCommandPool");
	PFN_vkAllocateCommandBuffers allocCmd = (PFN_vkAllocateCommandBuffers)gdpa(dev, "vkAllocateCommandBuffers");
	PFN_vkCreateFence createFence = (PFN_vkCreateFence)gdpa(dev, "vkCreateFence");
	PFN_vkCreateSemaphore createSemaphore = (PFN_vkCreateSemaphore)gdpa(dev, "vkCreateSemaphore");
	if (create == NULL || getImages == NULL || createPool == NULL || allocCmd == NULL || createFence == NULL || createSemaphore == NULL) {
		FAIL(VK_ERROR_EXTENSION_NOT_PRESENT, "loading the swapchain functions (is VK_KHR_swapchain enabled?)");
	}

	VkSurfaceCapabilitiesKHR caps;
	VkResult r = caps_fn(pd, to_surface(surface), &caps);
	if (r != VK_SUCCESS) {
		FAIL(r, "vkGetPhysicalDeviceSurfaceCapabilitiesKHR");
	}
	if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT)) {
		FAIL(VK_ERROR_FEATURE_NOT_PRESENT, "checking the surface's image usages (no transfer destination)");
	}
	VkSurfaceFormatKHR fmts[64];
	uint32_t nf = 64;
	r = fmts_fn(pd, to_surface(surface), &nf, fmts);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		FAIL(r, "vkGetPhysicalDeviceSurfaceFormatsKHR");
	}
	int fi = pick_format(fmts, nf);
	if (fi < 0) {
		FAIL(VK_ERROR_FORMAT_NOT_SUPPORTED, "choosing a surface format (none of B8G8R8A8/R8G8B8A8 UNORM/SRGB)");
	}
	s->format = fmts[fi].format;
	s->bgra = s->format == VK_FORMAT_B8G8R8A8_UNORM || s->format == VK_FORMAT_B8G8R8A8_SRGB;

	VkExtent2D ext = caps.currentExtent;
	if (ext.width == 0xFFFFFFFFu) { // the surface takes the swapchain's size
		ext.width = clamp_u32(width, caps.minImageExtent.width, caps.maxImageExtent.width);
		ext.height = clamp_u32(height, caps.minImageExtent.height, caps.maxImageExtent.height);
	}
	if (ext.width == 0 || ext.height == 0) {
		FAIL(VK_ERROR_OUT_OF_DATE_KHR, "sizing the swapchain (the window has no area)");
	}
	s->width = ext.width;
	s->height = ext.height;
	uint32_t n = caps.minImageCount + 1;
	if (caps.maxImageCount > 0 && n > caps.maxImageCount) {
		n = caps.maxImageCount;
	}
	VkCompositeAlphaFlagBitsKHR alpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
	if (!(caps.supportedCompositeAlpha & alpha)) {
		for (uint32_t b = 1; b != 0; b <<= 1) {
			if (caps.supportedCompositeAlpha & b) {
				alpha = (VkCompositeAlphaFlagBitsKHR)b;
				break;
			}
		}
	}
	VkImageUsageFlags usage = VK_IMAGE_USAGE_TRANSFER_DST_BIT;
	if (caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) {
		usage |= VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
	}
	VkSwapchainCreateInfoKHR ci = {.sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR};
	ci.surface = to_surface(surface);
	ci.minImageCount = n;
	ci.imageFormat = fmts[fi].format;
	ci.imageColorSpace = fmts[fi].colorSpace;
	ci.imageExtent = ext;
	ci.imageArrayLayers = 1;
	ci.imageUsage = usage;
	ci.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
	ci.preTransform = caps.currentTransform;
	ci.compositeAlpha = alpha;
	ci.presentMode = VK_PRESENT_MODE_FIFO_KHR; // the one mode every surface has
	ci.clipped = VK_TRUE;
	r = create(dev, &ci, NULL, &s->handle);
	if (r != VK_SUCCESS) {
		FAIL(r, "vkCreateSwapchainKHR");
	}
	uint32_t ni = VKD_MAX_IMAGES;
	r = getImages(dev, s->handle, &ni, s->images);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		FAIL(r, "vkGetSwapchainImagesKHR");
	}
	if (r == VK_INCOMPLETE) {
		FAIL(VK_ERROR_TOO_MANY_OBJECTS, "vkGetSwapchainImagesKHR (more than 8 images)");
	}
	s->nimages = ni;

	VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
	pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
	pci.queueFamilyIndex = family;
	if ((r = createPool(dev, &pci, NULL, &s->pool)) != VK_SUCCESS) {
		FAIL(r, "vkCreateCommandPool");
	}
	VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
	ai.commandPool = s->pool;
	ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
	ai.commandBufferCount = 1;
	if ((r = allocCmd(dev, &ai, &s->cmd)) != VK_SUCCESS) {
		FAIL(r, "vkAllocateCommandBuffers");
	}
	VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
	if ((r = createFence(dev, &fci, NULL, &s->fence)) != VK_SUCCESS) {
		FAIL(r, "vkCreateFence");
	}
	VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
	if ((r = createSemaphore(dev, &sci, NULL, &s->acquired)) != VK_SUCCESS) {
		FAIL(r, "vkCreateSemaphore");
	}
	for (uint32_t i = 0; i < ni; i++) {
		if ((r = createSemaphore(dev, &sci, NULL, &s->copied[i])) != VK_SUCCESS) {
			FAIL(r, "vkCreateSemaphore");
		}
	}
	return s;
#undef FAIL
}

VkResult vkd_swapchain_wait(vkd_swapchain *s) {
	if (!s->pending) {
		return VK_SUCCESS;
	}
	VkResult r = s->waitFences(s->dev, 1, &s->fence, VK_TRUE, UINT64_MAX);
	if (r != VK_SUCCESS) {
		return r;
	}
	s->pending = 0;
	return s->resetFences(s->dev, 1, &s->fence);
}

static void image_barrier(vkd_swapchain *s, VkImage img, VkImageLayout from, VkImageLayout to,
	VkPipelineStageFlags srcStage, VkAccessFlags srcAccess, VkPipelineStageFlags dstStage, VkAccessFlags dstAccess) {
	VkImageMemoryBarrier b = {.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
	b.srcAccessMask = srcAccess;
	b.dstAccessMask = dstAccess;
	b.oldLayout = from;
	b.newLayout = to;
	b.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
	b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
	b.image = img;
	b.subresourceRange.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
	b.subresourceRange.levelCount = 1;
	b.subresourceRange.layerCount = 1;
	s->barrier(s->cmd, srcStage, dstStage, 0, 0, NULL, 0, NULL, 1, &b);
}

// Acquisition waits at most this long for a free image (a window system that
// never gives one back must not hang the caller).
#define ACQUIRE_TIMEOUT_NS 2000000000ull

VkResult vkd_swapchain_present(vkd_swapchain *s, VkBuffer src, uint64_t off, VkBuffer readback, uint64_t roff, const char **what) {
	uint32_t idx = 0;
	*what = "vkAcquireNextImageKHR";
	VkResult acq = s->acquire(s->dev, s->handle, ACQUIRE_TIMEOUT_NS, s->acquired, VK_NULL_HANDLE, &idx);
	if (acq != VK_SUCCESS && acq != VK_SUBOPTIMAL_KHR) {
		return acq;
	}
	VkImage img = s->images[idx];
	VkResult r;
	*what = "vkResetCommandBuffer";
	if ((r = s->reset(s->cmd, 0)) != VK_SUCCESS) {
		return r;
	}
	VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
	bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
	*what = "vkBeginCommandBuffer";
	if ((r = s->begin(s->cmd, &bi)) != VK_SUCCESS) {
		return r;
	}
	// The host wrote src before this submission (made visible by the submit
	// itself); the image's old contents are discarded.
	image_barrier(s, img, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
		VK_PIPELINE_STAGE_TRANSFER_BIT, 0, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
	VkBufferImageCopy region = {0};
	region.bufferOffset = off;
	region.imageSubresource.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
	region.imageSubresource.layerCount = 1;
	region.imageExtent.width = s->width;
	region.imageExtent.height = s->height;
	region.imageExtent.depth = 1;
	s->copyToImage(s->cmd, src, img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
	VkImageLayout last = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
	if (readback != VK_NULL_HANDLE) {
		image_barrier(s, img, last, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
			VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
		region.bufferOffset = roff;
		s->copyToBuffer(s->cmd, img, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, readback, 1, &region);
		VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
		mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
		mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
		s->barrier(s->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
		last = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
	}
	// Presentation is ordered by the semaphore; no access mask is needed.
	image_barrier(s, img, last, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
		VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0);
	*what = "vkEndCommandBuffer";
	if ((r = s->end(s->cmd)) != VK_SUCCESS) {
		return r;
	}
	VkPipelineStageFlags waitStage = VK_PIPELINE_STAGE_TRANSFER_BIT;
	VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
	si.waitSemaphoreCount = 1;
	si.pWaitSemaphores = &s->acquired;
	si.pWaitDstStageMask = &waitStage;
	si.commandBufferCount = 1;
	si.pCommandBuffers = &s->cmd;
	si.signalSemaphoreCount = 1;
	si.pSignalSemaphores = &s->copied[idx];
	*what = "vkQueueSubmit";
	if ((r = s->submit(s->queue, 1, &si, s->fence)) != VK_SUCCESS) {
		return r;
	}
	s->pending = 1;
	VkPresentInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
	pi.waitSemaphoreCount = 1;
	pi.pWaitSemaphores = &s->copied[idx];
	pi.swapchainCount = 1;
	pi.pSwapchains = &s->handle;
	pi.pImageIndices = &idx;
	*what = "vkQueuePresentKHR";
	r = s->present(s->queue, &pi);
	if (r == VK_SUCCESS && acq == VK_SUBOPTIMAL_KHR) {
		r = VK_SUBOPTIMAL_KHR;
	}
	return r;
}

void vkd_swapchain_free(vkd_swapchain *s) {
	if (s == NULL) {
		return;
	}
	if (s->queueWaitIdle != NULL) {
		s->queueWaitIdle(s->queue);
	}
	if (s->destroySemaphore != NULL) {
		for (uint32_t i = 0; i < VKD_MAX_IMAGES; i++) {
			if (s->copied[i] != VK_NULL_HANDLE) {
				s->destroySemaphore(s->dev, s->copied[i], NULL);
			}
		}
		if (s->acquired != VK_NULL_HANDLE) {
			s->destroySemaphore(s->dev, s->acquired, NULL);
		}
	}
	if (s->fence != VK_NULL_HANDLE && s->destroyFence != NULL) {
		s->destroyFence(s->dev, s->fence, NULL);
	}
	if (s->pool != VK_NULL_HANDLE && s->destroyPool != NULL) {
		s->destroyPool(s->dev, s->pool, NULL);
	}
	if (s->handle != VK_NULL_HANDLE && s->destroySwapchain != NULL) {
		s->destroySwapchain(s->dev, s->handle, NULL);
	}
	free(s);
}
