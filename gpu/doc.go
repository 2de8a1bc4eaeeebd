// Package gpu is vkdeit's model-agnostic Vulkan compute runtime: it opens a
// device, hands out storage buffers, builds compute pipelines from SPIR-V,
// and records sequences of dispatches that are replayed many times.
//
// # Devices
//
// Open loads the system Vulkan loader (libvulkan.so.1) itself and picks a
// device: discrete > integrated > virtual > CPU, or the one Options.Select
// names (an enumeration index or a name substring). A CPU driver such as
// Mesa's lavapipe works, at CPU speed (DeviceInfo.Type says so). With no
// loader or no device, Open and Devices return an error wrapping
// ErrNoDevice that says which packages to install. Open reads no
// environment variables and prints nothing; OptionsFromEnv turns
// $VKDEIT_DEVICE and $VKDEIT_VALIDATION into Options for programs that
// honour them.
//
// With Options.Validation the Khronos validation layer runs with
// synchronization validation, and every warning or error it reports is kept
// for Device.ValidationMessages — including the leaked-object reports
// emitted while Close destroys the device (and written to Options.Log, when
// given). Tests use gpu/gputest, which fails a test on any such message.
//
// # fp16 and cooperative matrices
//
// Open enables, through a pNext feature chain, the optional features the
// device offers of those vkdeit's kernels use: shaderFloat16 and
// storageBuffer16BitAccess (DeviceInfo.FP16: the fp16-storage kernels),
// vulkanMemoryModel, and VK_KHR_cooperative_matrix. DeviceInfo lists the
// driver's cooperative-matrix shapes; DeviceInfo.CoopMat says whether vkdeit
// uses them, which needs an fp16×fp16+fp32 subgroup shape and a vendor whose
// driver does not over-report (see CoopMatNote), and can be turned off with
// Options.NoCoopMat ($VKDEIT_COOPMAT=0).
//
// Ops picks kernels from the element types of the Args (Arg.As(F16)): fp32
// arguments run the fp32 kernels; fp16 ones run the fp16-storage builds of
// the same sources (fp32 arithmetic, one rounding per store) or, where the
// device has cooperative matrices, matmul_coopmat and attention_coopmat,
// whose tile shape comes from the driver's list as specialization
// constants. Which element types a model runs at is the engine's choice
// (package engine), made from DeviceInfo. Half, ToHalf and FromHalf convert
// to and from binary16; Device.WriteHalf and ReadHalf move fp16 data.
//
// # Memory: blocks and buffers
//
// Drivers limit the number of memory allocations (often to 4096) and
// allocation is slow, so a Buffer is a range of a large block: one
// vkAllocateMemory (64 MiB, or a dedicated one for larger requests) with one
// VkBuffer bound over all of it. Ranges are aligned to the device's
// minStorageBufferOffsetAlignment. Buffers live until Buffer.Free or
// Device.Close; a block goes back to the driver once all of its buffers are
// freed.
//
// On Unified devices (CPU drivers and integrated GPUs) device-local memory
// is host-visible: blocks are mapped once, Buffer.Mapped exposes the bytes,
// and Write and Read are plain copies. On discrete GPUs buffers live in
// device-local memory and Write and Read go through a staging buffer and a
// one-off submission.
//
// # Sequences and hazards
//
// A Sequence is one command buffer: Dispatch and Copy record into it once,
// Finish closes it, and Run submits it again and again (one vkQueueSubmit
// and a fence wait per run) without re-recording. Each Dispatch allocates
// and writes its descriptor set at record time from the sequence's
// descriptor pools, which grow in chunks while recording and never on
// replay, so a run costs no allocation at all.
//
// Dispatches with no data dependency may overlap on the GPU, so recording
// inserts a global memory barrier only where one is needed: before a command
// whose buffer ranges overlap a range written since the last barrier
// (read-after-write, write-after-write) or that writes a range read since the
// last barrier (write-after-read). Independent dispatches run back to back.
// Whether a binding is written comes from the Arg (W, Write) and from the
// shader: a binding not declared readonly in the SPIR-V counts as written,
// exactly as the synchronization validator sees it. Every sequence also
// begins with a barrier against all earlier submissions and host writes and
// ends with one that makes its results visible to the host, so Write before
// Run and Read after Run need no further synchronization.
//
// A Sequence created with timestamps brackets every dispatch with timestamp
// queries; Timings converts them to nanoseconds after a run.
//
// # Binding notes
//
// The package uses github.com/vulkan-go/vulkan for object creation and
// queries (building a fresh struct for every call and freeing its C copy
// afterwards) and a small C shim (shim.c) for loading, the validation
// message collector, and the calls that take arrays on the hot path
// (submission, descriptor writes, barriers, dispatch recording), so that no
// Go pointer is kept by C and every call passes Go's default cgo checks.
package gpu
