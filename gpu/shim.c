// shim.c implements shim.h; see there for why these pieces are in C.
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vkd_load(PFN_vkGetInstanceProcAddr *out) {
	static void *lib;
	if (lib == NULL) {
		lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
	}
	if (lib == NULL) {
		lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
	}
	if (lib == NULL) {
		return "cannot load libvulkan.so.1 (the Vulkan loader)";
	}
	*out = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
	if (*out == NULL) {
		return "libvulkan.so.1 has no vkGetInstanceProcAddr";
	}
	return NULL;
}

struct vkd_log {
	pthread_mutex_t mu;
	char *buf;
	size_t len, cap;
};

vkd_log *vkd_log_new(void) {
	vkd_log *l = calloc(1, sizeof *l);
	if (l != NULL) {
		pthread_mutex_init(&l->mu, NULL);
	}
	return l;
}

void vkd_log_free(vkd_log *l) {
	if (l == NULL) {
		return;
	}
	pthread_mutex_destroy(&l->mu);
	free(l->buf);
	free(l);
}

static void log_add(vkd_log *l, const char *msg) {
	size_t n = strlen(msg) + 1;
	pthread_mutex_lock(&l->mu);
	if (l->len + n > l->cap) {
		size_t c = l->cap ? l->cap * 2 : 4096;
		while (c < l->len + n) {
			c *= 2;
		}
		char *b = realloc(l->buf, c);
		if (b == NULL) {
			pthread_mutex_unlock(&l->mu);
			return;
		}
		l->buf = b;
		l->cap = c;
	}
	memcpy(l->buf + l->len, msg, n);
	l->len += n;
	pthread_mutex_unlock(&l->mu);
}

// vkd_log_take moves the buffered messages (each NUL-terminated) to *out,
// which the caller frees, and returns their total length.
size_t vkd_log_take(vkd_log *l, char **out) {
	pthread_mutex_lock(&l->mu);
	size_t n = l->len;
	*out = l->buf;
	l->buf = NULL;
	l->len = l->cap = 0;
	pthread_mutex_unlock(&l->mu);
	return n;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
	VkDebugUtilsMessageTypeFlagsEXT types, const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
	// Validation and performance reports count from warnings up; general
	// messages (mostly the loader describing the drivers it found) only
	// when they are errors.
	if (sev < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT || data == NULL || user == NULL) {
		return VK_FALSE;
	}
	if (types == VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT && sev < VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
		return VK_FALSE;
	}
	const char *level = sev >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning";
	const char *id = data->pMessageIdName ? data->pMessageIdName : "";
	const char *msg = data->pMessage ? data->pMessage : "";
	size_t n = strlen(level) + strlen(id) + strlen(msg) + 8;
	char *s = malloc(n);
	if (s == NULL) {
		return VK_FALSE;
	}
	snprintf(s, n, "%s [%s] %s", level, id, msg);
	log_add((vkd_log *)user, s);
	free(s);
	return VK_FALSE;
}

static void fill_messenger(VkDebugUtilsMessengerCreateInfoEXT *ci, vkd_log *log) {
	memset(ci, 0, sizeof *ci);
	ci->sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
	ci->messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
	ci->messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
		VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
	ci->pfnUserCallback = on_message;
	ci->pUserData = log;
}

struct pnext {
	VkDebugUtilsMessengerCreateInfoEXT messenger;
	VkValidationFeaturesEXT features;
	VkValidationFeatureEnableEXT enables[1];
};

// vkd_instance_pnext returns a malloc'd pNext chain for VkInstanceCreateInfo:
// a messenger (so instance creation and destruction are reported too) and,
// when syncval is set, validation features enabling synchronization
// validation. Free it with free().
void *vkd_instance_pnext(vkd_log *log, int syncval) {
	struct pnext *p = calloc(1, sizeof *p);
	if (p == NULL) {
		return NULL;
	}
	fill_messenger(&p->messenger, log);
	if (syncval) {
		p->enables[0] = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
		p->features.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT;
		p->features.enabledValidationFeatureCount = 1;
		p->features.pEnabledValidationFeatures = p->enables;
		p->messenger.pNext = &p->features;
	}
	return p;
}

VkResult vkd_messenger_create(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, vkd_log *log, VkDebugUtilsMessengerEXT *out) {
	PFN_vkCreateDebugUtilsMessengerEXT create =
		(PFN_vkCreateDebugUtilsMessengerEXT)gipa(inst, "vkCreateDebugUtilsMessengerEXT");
	if (create == NULL) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	VkDebugUtilsMessengerCreateInfoEXT ci;
	fill_messenger(&ci, log);
	return create(inst, &ci, NULL, out);
}

void vkd_messenger_destroy(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkDebugUtilsMessengerEXT m) {
	PFN_vkDestroyDebugUtilsMessengerEXT destroy =
		(PFN_vkDestroyDebugUtilsMessengerEXT)gipa(inst, "vkDestroyDebugUtilsMessengerEXT");
	if (destroy != NULL) {
		destroy(inst, m, NULL);
	}
}

void vkd_get_props2(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, uint32_t apiVersion, vkd_props2 *out) {
	memset(out, 0, sizeof *out);
	PFN_vkGetPhysicalDeviceProperties2 get =
		(PFN_vkGetPhysicalDeviceProperties2)gipa(inst, "vkGetPhysicalDeviceProperties2");
	if (get == NULL || apiVersion < VK_API_VERSION_1_1) {
		return;
	}
	VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
	VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
	VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
	VkPhysicalDeviceProperties2 p = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
	p.pNext = &sub;
	sub.pNext = &m3;
	if (apiVersion >= VK_API_VERSION_1_2) {
		m3.pNext = &drv;
	}
	get(pd, &p);
	out->subgroupSize = sub.subgroupSize;
	out->maxAlloc = m3.maxMemoryAllocationSize;
	if (apiVersion >= VK_API_VERSION_1_2) {
		out->haveDriver = 1;
		out->driverID = (uint32_t)drv.driverID;
		memcpy(out->driverName, drv.driverName, sizeof out->driverName);
		memcpy(out->driverInfo, drv.driverInfo, sizeof out->driverInfo);
		out->driverName[sizeof out->driverName - 1] = 0;
		out->driverInfo[sizeof out->driverInfo - 1] = 0;
	}
}

// feature_chain is the pNext chain of the features vkdeit reads and enables;
// the same structs serve both (Vulkan 1.2 core, no extension needed except
// the cooperative matrix one).
struct feature_chain {
	VkPhysicalDeviceFeatures2 f2;
	VkPhysicalDevice16BitStorageFeatures s16;
	VkPhysicalDeviceShaderFloat16Int8Features f16;
	VkPhysicalDeviceVulkanMemoryModelFeatures vmm;
	VkPhysicalDeviceCooperativeMatrixFeaturesKHR cm;
};

static void chain_init(struct feature_chain *c, int coopmat) {
	memset(c, 0, sizeof *c);
	c->f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
	c->s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
	c->f16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
	c->vmm.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES;
	c->cm.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR;
	c->f2.pNext = &c->s16;
	c->s16.pNext = &c->f16;
	c->f16.pNext = &c->vmm;
	if (coopmat) {
		c->vmm.pNext = &c->cm;
	}
}

void vkd_get_features(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, uint32_t apiVersion, int coopmatExt, vkd_features *out) {
	memset(out, 0, sizeof *out);
	PFN_vkGetPhysicalDeviceFeatures2 get =
		(PFN_vkGetPhysicalDeviceFeatures2)gipa(inst, "vkGetPhysicalDeviceFeatures2");
	if (get == NULL || apiVersion < VK_API_VERSION_1_2) {
		return;
	}
	struct feature_chain c;
	chain_init(&c, coopmatExt);
	get(pd, &c.f2);
	out->shaderFloat16 = c.f16.shaderFloat16 != 0;
	out->storageBuffer16BitAccess = c.s16.storageBuffer16BitAccess != 0;
	out->vulkanMemoryModel = c.vmm.vulkanMemoryModel != 0;
	out->cooperativeMatrix = coopmatExt && c.cm.cooperativeMatrix != 0;
}

// vkd_coopmat_shapes copies up to cap VkCooperativeMatrixPropertiesKHR
// entries to out and their total number to *count; it returns 0 on success,
// -1 when the instance has no vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR
// and the VkResult otherwise.
int vkd_coopmat_shapes(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkPhysicalDevice pd, vkd_cm_shape *out, uint32_t cap, uint32_t *count) {
	*count = 0;
	PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR get =
		(PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)gipa(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
	if (get == NULL) {
		return -1;
	}
	uint32_t n = 0;
	VkResult r = get(pd, &n, NULL);
	if (r != VK_SUCCESS) {
		return (int)r;
	}
	if (n > cap) {
		n = cap;
	}
	VkCooperativeMatrixPropertiesKHR *p = calloc(n ? n : 1, sizeof *p);
	if (p == NULL) {
		return (int)VK_ERROR_OUT_OF_HOST_MEMORY;
	}
	for (uint32_t i = 0; i < n; i++) {
		p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
	}
	r = get(pd, &n, p);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		free(p);
		return (int)r;
	}
	for (uint32_t i = 0; i < n; i++) {
		out[i].m = p[i].MSize;
		out[i].n = p[i].NSize;
		out[i].k = p[i].KSize;
		out[i].a = (uint32_t)p[i].AType;
		out[i].b = (uint32_t)p[i].BType;
		out[i].c = (uint32_t)p[i].CType;
		out[i].result = (uint32_t)p[i].ResultType;
		out[i].scope = (uint32_t)p[i].scope;
		out[i].saturating = p[i].saturatingAccumulation != 0;
	}
	*count = n;
	free(p);
	return 0;
}

// vkd_device_pnext returns a malloc'd pNext chain for VkDeviceCreateInfo
// (a VkPhysicalDeviceFeatures2 heading the feature structs) enabling exactly
// the features set in enable; pEnabledFeatures must then be NULL. Free it
// with free().
void *vkd_device_pnext(const vkd_features *enable) {
	struct feature_chain *c = malloc(sizeof *c);
	if (c == NULL) {
		return NULL;
	}
	chain_init(c, enable->cooperativeMatrix);
	c->f16.shaderFloat16 = enable->shaderFloat16 ? VK_TRUE : VK_FALSE;
	c->s16.storageBuffer16BitAccess = enable->storageBuffer16BitAccess ? VK_TRUE : VK_FALSE;
	c->vmm.vulkanMemoryModel = enable->vulkanMemoryModel ? VK_TRUE : VK_FALSE;
	c->cm.cooperativeMatrix = enable->cooperativeMatrix ? VK_TRUE : VK_FALSE;
	return c;
}

vkd_fns *vkd_fns_load(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, VkDevice dev) {
	PFN_vkGetDeviceProcAddr gdpa = (PFN_vkGetDeviceProcAddr)gipa(inst, "vkGetDeviceProcAddr");
	if (gdpa == NULL) {
		return NULL;
	}
	vkd_fns *f = calloc(1, sizeof *f);
	if (f == NULL) {
		return NULL;
	}
#define LOAD(field, name)                                   \
	f->field = (void *)gdpa(dev, name);                     \
	if (f->field == NULL) {                                 \
		free(f);                                            \
		return NULL;                                        \
	}
	LOAD(queueSubmit, "vkQueueSubmit");
	LOAD(updateDescriptorSets, "vkUpdateDescriptorSets");
	LOAD(cmdPipelineBarrier, "vkCmdPipelineBarrier");
	LOAD(createComputePipelines, "vkCreateComputePipelines");
	LOAD(cmdBindPipeline, "vkCmdBindPipeline");
	LOAD(cmdBindDescriptorSets, "vkCmdBindDescriptorSets");
	LOAD(cmdPushConstants, "vkCmdPushConstants");
	LOAD(cmdDispatch, "vkCmdDispatch");
	LOAD(cmdWriteTimestamp, "vkCmdWriteTimestamp");
	LOAD(cmdCopyBuffer, "vkCmdCopyBuffer");
	LOAD(cmdResetQueryPool, "vkCmdResetQueryPool");
	LOAD(createPipelineCache, "vkCreatePipelineCache");
	LOAD(getPipelineCacheData, "vkGetPipelineCacheData");
	LOAD(destroyPipelineCache, "vkDestroyPipelineCache");
#undef LOAD
	return f;
}

void vkd_fns_free(vkd_fns *f) { free(f); }

VkResult vkd_submit(vkd_fns *f, VkQueue q, VkCommandBuffer cb, VkFence fence) {
	VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
	si.commandBufferCount = 1;
	si.pCommandBuffers = &cb;
	return f->queueSubmit(q, 1, &si, fence);
}

void vkd_write_set(vkd_fns *f, VkDevice dev, VkDescriptorSet set, uint32_t n, const VkBuffer *bufs, const uint64_t *offs, const uint64_t *ranges) {
	VkDescriptorBufferInfo infos[32];
	VkWriteDescriptorSet w = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
	if (n > 32) {
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		infos[i].buffer = bufs[i];
		infos[i].offset = offs[i];
		infos[i].range = ranges[i];
	}
	w.dstSet = set;
	w.dstBinding = 0;
	w.descriptorCount = n;
	w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
	w.pBufferInfo = infos;
	if (n > 0) {
		f->updateDescriptorSets(dev, 1, &w, 0, NULL);
	}
}

void vkd_barrier(vkd_fns *f, VkCommandBuffer cb, uint32_t srcStage, uint32_t dstStage, uint32_t srcAccess, uint32_t dstAccess) {
	VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
	mb.srcAccessMask = srcAccess;
	mb.dstAccessMask = dstAccess;
	f->cmdPipelineBarrier(cb, srcStage, dstStage, 0, 1, &mb, 0, NULL, 0, NULL);
}

VkResult vkd_create_pipeline(vkd_fns *f, VkDevice dev, VkPipelineCache cache, VkShaderModule mod, VkPipelineLayout layout, uint32_t nspec, const uint32_t *spec, VkPipeline *out) {
	VkSpecializationMapEntry entries[64];
	VkSpecializationInfo si = {0};
	if (nspec > 64) {
		return VK_ERROR_INITIALIZATION_FAILED;
	}
	for (uint32_t i = 0; i < nspec; i++) {
		entries[i].constantID = i;
		entries[i].offset = i * 4;
		entries[i].size = 4;
	}
	si.mapEntryCount = nspec;
	si.pMapEntries = entries;
	si.dataSize = nspec * 4;
	si.pData = spec;
	VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
	ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
	ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
	ci.stage.module = mod;
	ci.stage.pName = "main";
	ci.stage.pSpecializationInfo = nspec > 0 ? &si : NULL;
	ci.layout = layout;
	return f->createComputePipelines(dev, cache, 1, &ci, NULL, out);
}

VkResult vkd_pipeline_cache_create(vkd_fns *f, VkDevice dev, const void *data, size_t size, VkPipelineCache *out) {
	VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
	ci.initialDataSize = data != NULL ? size : 0;
	ci.pInitialData = ci.initialDataSize > 0 ? data : NULL;
	return f->createPipelineCache(dev, &ci, NULL, out);
}

VkResult vkd_pipeline_cache_data(vkd_fns *f, VkDevice dev, VkPipelineCache cache, size_t *size, void *data) {
	return f->getPipelineCacheData(dev, cache, size, data);
}

void vkd_pipeline_cache_destroy(vkd_fns *f, VkDevice dev, VkPipelineCache cache) {
	f->destroyPipelineCache(dev, cache, NULL);
}

void vkd_dispatch(vkd_fns *f, VkCommandBuffer cb, VkPipeline pipe, VkPipelineLayout layout, VkDescriptorSet set,
	const void *push, uint32_t pushLen, uint32_t gx, uint32_t gy, uint32_t gz, VkQueryPool qp, uint32_t query) {
	if (qp != VK_NULL_HANDLE) {
		f->cmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, qp, query);
	}
	if (pipe != VK_NULL_HANDLE) {
		f->cmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
	}
	if (set != VK_NULL_HANDLE) {
		f->cmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, NULL);
	}
	if (pushLen > 0) {
		f->cmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pushLen, push);
	}
	f->cmdDispatch(cb, gx, gy, gz);
	if (qp != VK_NULL_HANDLE) {
		f->cmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, qp, query + 1);
	}
}

void vkd_copy(vkd_fns *f, VkCommandBuffer cb, VkBuffer src, VkBuffer dst, uint64_t srcOff, uint64_t dstOff, uint64_t size, VkQueryPool qp, uint32_t query) {
	if (qp != VK_NULL_HANDLE) {
		f->cmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, qp, query);
	}
	VkBufferCopy r = {.srcOffset = srcOff, .dstOffset = dstOff, .size = size};
	f->cmdCopyBuffer(cb, src, dst, 1, &r);
	if (qp != VK_NULL_HANDLE) {
		f->cmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, qp, query + 1);
	}
}

void vkd_reset_queries(vkd_fns *f, VkCommandBuffer cb, VkQueryPool qp, uint32_t n) {
	f->cmdResetQueryPool(cb, qp, 0, n);
}
