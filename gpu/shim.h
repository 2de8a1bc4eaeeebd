// shim.h declares the small C layer under package gpu: loading the Vulkan
// loader, capturing validation messages in C memory, and the hot-path
// commands that take arrays (submit, descriptor writes, barriers, dispatch
// recording), which are issued directly so that no Go memory is kept by C
// and no finalizer-managed temporary is involved.
#ifndef VKDEIT_SHIM_H
#define VKDEIT_SHIM_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>
#include <stddef.h>
#include <stdint.h>

const char *vkd_load(PFN_vkGetInstanceProcAddr *out);

typedef struct vkd_log vkd_log;
vkd_log *vkd_log_new(void);
void vkd_log_free(vkd_log *log);
size_t vkd_log_take(vkd_log *log, char **out);

void *vkd_instance_pnext(vkd_log *log, int syncval);
VkResult vkd_messenger_create(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, vkd_log *log, VkDebugUtilsMessengerEXT *out);
void vkd_messenger_destroy(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkDebugUtilsMessengerEXT m);

typedef struct vkd_props2 {
	uint32_t subgroupSize;
	uint64_t maxAlloc;
	int haveDriver;
	char driverName[VK_MAX_DRIVER_NAME_SIZE];
	char driverInfo[VK_MAX_DRIVER_INFO_SIZE];
} vkd_props2;
void vkd_get_props2(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, uint32_t apiVersion, vkd_props2 *out);

typedef struct vkd_fns {
	PFN_vkQueueSubmit queueSubmit;
	PFN_vkUpdateDescriptorSets updateDescriptorSets;
	PFN_vkCmdPipelineBarrier cmdPipelineBarrier;
	PFN_vkCreateComputePipelines createComputePipelines;
	PFN_vkCmdBindPipeline cmdBindPipeline;
	PFN_vkCmdBindDescriptorSets cmdBindDescriptorSets;
	PFN_vkCmdPushConstants cmdPushConstants;
	PFN_vkCmdDispatch cmdDispatch;
	PFN_vkCmdWriteTimestamp cmdWriteTimestamp;
	PFN_vkCmdCopyBuffer cmdCopyBuffer;
	PFN_vkCmdResetQueryPool cmdResetQueryPool;
} vkd_fns;
vkd_fns *vkd_fns_load(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkDevice dev);
void vkd_fns_free(vkd_fns *f);

VkResult vkd_submit(vkd_fns *f, VkQueue q, VkCommandBuffer cb, VkFence fence);
void vkd_write_set(vkd_fns *f, VkDevice dev, VkDescriptorSet set, uint32_t n, const VkBuffer *bufs, const uint64_t *offs, const uint64_t *ranges);
void vkd_barrier(vkd_fns *f, VkCommandBuffer cb, uint32_t srcStage, uint32_t dstStage, uint32_t srcAccess, uint32_t dstAccess);
VkResult vkd_create_pipeline(vkd_fns *f, VkDevice dev, VkShaderModule mod, VkPipelineLayout layout, uint32_t nspec, const uint32_t *spec, VkPipeline *out);
void vkd_dispatch(vkd_fns *f, VkCommandBuffer cb, VkPipeline pipe, VkPipelineLayout layout, VkDescriptorSet set,
	const void *push, uint32_t pushLen, uint32_t gx, uint32_t gy, uint32_t gz, VkQueryPool qp, uint32_t query);
void vkd_copy(vkd_fns *f, VkCommandBuffer cb, VkBuffer src, VkBuffer dst, uint64_t srcOff, uint64_t dstOff, uint64_t size, VkQueryPool qp, uint32_t query);
void vkd_reset_queries(vkd_fns *f, VkCommandBuffer cb, VkQueryPool qp, uint32_t n);

#endif
