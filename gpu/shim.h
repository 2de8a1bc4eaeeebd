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

// Debian 12's headers (1.3.239) predate VK_KHR_cooperative_matrix (header
// 1.3.255): declare what vkdeit uses, with the Vulkan registry's values.
#ifndef VK_KHR_cooperative_matrix
#define VK_KHR_cooperative_matrix 1
#define VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME "VK_KHR_cooperative_matrix"
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR ((VkStructureType)1000506000)
#define VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR ((VkStructureType)1000506001)
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_KHR ((VkStructureType)1000506002)
typedef enum VkComponentTypeKHR {
	VK_COMPONENT_TYPE_FLOAT16_KHR = 0,
	VK_COMPONENT_TYPE_FLOAT32_KHR = 1,
	VK_COMPONENT_TYPE_FLOAT64_KHR = 2,
	VK_COMPONENT_TYPE_SINT8_KHR = 3,
	VK_COMPONENT_TYPE_SINT16_KHR = 4,
	VK_COMPONENT_TYPE_SINT32_KHR = 5,
	VK_COMPONENT_TYPE_SINT64_KHR = 6,
	VK_COMPONENT_TYPE_UINT8_KHR = 7,
	VK_COMPONENT_TYPE_UINT16_KHR = 8,
	VK_COMPONENT_TYPE_UINT32_KHR = 9,
	VK_COMPONENT_TYPE_UINT64_KHR = 10,
	VK_COMPONENT_TYPE_MAX_ENUM_KHR = 0x7FFFFFFF
} VkComponentTypeKHR;
typedef enum VkScopeKHR {
	VK_SCOPE_DEVICE_KHR = 1,
	VK_SCOPE_WORKGROUP_KHR = 2,
	VK_SCOPE_SUBGROUP_KHR = 3,
	VK_SCOPE_QUEUE_FAMILY_KHR = 5,
	VK_SCOPE_MAX_ENUM_KHR = 0x7FFFFFFF
} VkScopeKHR;
typedef struct VkCooperativeMatrixPropertiesKHR {
	VkStructureType sType;
	void *pNext;
	uint32_t MSize;
	uint32_t NSize;
	uint32_t KSize;
	VkComponentTypeKHR AType;
	VkComponentTypeKHR BType;
	VkComponentTypeKHR CType;
	VkComponentTypeKHR ResultType;
	VkBool32 saturatingAccumulation;
	VkScopeKHR scope;
} VkCooperativeMatrixPropertiesKHR;
typedef struct VkPhysicalDeviceCooperativeMatrixFeaturesKHR {
	VkStructureType sType;
	void *pNext;
	VkBool32 cooperativeMatrix;
	VkBool32 cooperativeMatrixRobustBufferAccess;
} VkPhysicalDeviceCooperativeMatrixFeaturesKHR;
typedef VkResult(VKAPI_PTR *PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)(
	VkPhysicalDevice physicalDevice, uint32_t *pPropertyCount, VkCooperativeMatrixPropertiesKHR *pProperties);
#endif

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
	uint32_t driverID;
	char driverName[VK_MAX_DRIVER_NAME_SIZE];
	char driverInfo[VK_MAX_DRIVER_INFO_SIZE];
} vkd_props2;
void vkd_get_props2(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, uint32_t apiVersion, vkd_props2 *out);

// vkd_features is what vkdeit asks of a device beyond Vulkan 1.0, as
// vkGetPhysicalDeviceFeatures2 reports it (all zero before Vulkan 1.2).
typedef struct vkd_features {
	int shaderFloat16;
	int storageBuffer16BitAccess;
	int vulkanMemoryModel;
	int cooperativeMatrix;
} vkd_features;
void vkd_get_features(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, uint32_t apiVersion, int coopmatExt, vkd_features *out);

// vkd_cm_shape is one VkCooperativeMatrixPropertiesKHR entry.
typedef struct vkd_cm_shape {
	uint32_t m, n, k, a, b, c, result, scope, saturating;
} vkd_cm_shape;
int vkd_coopmat_shapes(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, vkd_cm_shape *out, uint32_t cap, uint32_t *count);

void *vkd_device_pnext(const vkd_features *enable);

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
	PFN_vkCreatePipelineCache createPipelineCache;
	PFN_vkGetPipelineCacheData getPipelineCacheData;
	PFN_vkDestroyPipelineCache destroyPipelineCache;
} vkd_fns;
vkd_fns *vkd_fns_load(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkDevice dev);
void vkd_fns_free(vkd_fns *f);

VkResult vkd_submit(vkd_fns *f, VkQueue q, VkCommandBuffer cb, VkFence fence);
void vkd_write_set(vkd_fns *f, VkDevice dev, VkDescriptorSet set, uint32_t n, const VkBuffer *bufs, const uint64_t *offs, const uint64_t *ranges);
void vkd_barrier(vkd_fns *f, VkCommandBuffer cb, uint32_t srcStage, uint32_t dstStage, uint32_t srcAccess, uint32_t dstAccess);
VkResult vkd_create_pipeline(vkd_fns *f, VkDevice dev, VkPipelineCache cache, VkShaderModule mod, VkPipelineLayout layout, uint32_t nspec, const uint32_t *spec, VkPipeline *out);

// The Vulkan pipeline cache (pipeline_cache.go): created with the bytes a
// previous process saved, read back with vkd_pipeline_cache_data (size
// first with data NULL, then the bytes).
VkResult vkd_pipeline_cache_create(vkd_fns *f, VkDevice dev, const void *data, size_t size, VkPipelineCache *out);
VkResult vkd_pipeline_cache_data(vkd_fns *f, VkDevice dev, VkPipelineCache cache, size_t *size, void *data);
void vkd_pipeline_cache_destroy(vkd_fns *f, VkDevice dev, VkPipelineCache cache);
void vkd_dispatch(vkd_fns *f, VkCommandBuffer cb, VkPipeline pipe, VkPipelineLayout layout, VkDescriptorSet set,
	const void *push, uint32_t pushLen, uint32_t gx, uint32_t gy, uint32_t gz, VkQueryPool qp, uint32_t query);
void vkd_copy(vkd_fns *f, VkCommandBuffer cb, VkBuffer src, VkBuffer dst, uint64_t srcOff, uint64_t dstOff, uint64_t size, VkQueryPool qp, uint32_t query);
void vkd_reset_queries(vkd_fns *f, VkCommandBuffer cb, VkQueryPool qp, uint32_t n);

#endif
