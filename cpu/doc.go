// Package cpu holds vkdeit's SIMD CPU kernels: a packed SGEMM with fused
// bias/GELU/residual epilogues, fused multi-head attention, LayerNorm and
// GELU, in float32, for amd64 with AVX-512 or AVX2+FMA, for arm64 with NEON,
// and in plain Go everywhere else; and the same GEMM and attention with bf16
// products (AVX512_BF16, AMX, arm64's BFDOT, or Go). The package is model-agnostic: it knows shapes and
// layouts, not DeiT or file formats (package engine runs a model's plan
// with it).
//
// # Using it
//
// A Kernels value binds the kernels to one instruction set and a pool of
// worker goroutines created once (New); every method spreads its work over
// the pool, the calling goroutine included, and allocates nothing, so a
// forward pass of many kernel calls costs no goroutine creation and no
// garbage. Between calls the workers, and the caller between handing out
// work and collecting it, poll for up to 50 µs before they park, so the
// dozen calls of a layer do not each pay a thread wake-up; while the
// machine is oversubscribed (the process's threads keep being preempted)
// they park at once instead. Weights are packed once (PackB for a [K, N] matrix, PackLinear
// for an nn.Linear [out, in] one) into the micro-kernels' panel layout and
// reused by every Gemm. A Kernels is safe for concurrent use; calls are
// serialized, each already using every worker. There is no package-level
// mutable state: the only globals are the CPU features read at start-up and
// read-only constant tables.
//
// # Instruction sets
//
// ISA names an instruction set: AVX512 (AVX-512 Foundation, with the OS
// saving the zmm and opmask state), AVX2 (AVX2 + FMA3, with the OS saving
// the ymm state), NEON (arm64's Advanced SIMD, fp32; every ARMv8-A core:
// Graviton, Ampere, Apple silicon) and Generic (Go). golang.org/x/sys/cpu
// reports the features, including the OS support (OSXSAVE and XCR0; on
// arm64, ASIMD from HWCAP or the OS's equivalent). Best returns the
// fastest one the CPU supports; Auto, the zero value, means Best, so an
// options struct left empty gets it. New(isa, threads) fails for an ISA
// the CPU or build cannot run, which is how tests and benchmarks force
// each ISA in turn. The assembly is plain Go assembly in the default build
// (no GOEXPERIMENT); the purego build tag, or a GOARCH other than amd64 and
// arm64, leaves only Generic. The arm64 kernels are tested under
// qemu-aarch64 (make test-arm64): their correctness is checked on every
// run, their speed on real arm64 hardware has not been measured.
//
// Every ISA computes the same functions. A Gemm element is one float32
// fused-multiply-add chain over k in order on AVX2, AVX-512 and NEON, so
// their results agree bit for bit (except after the GELU epilogue, whose 1/x
// is exact on AVX2 and NEON, which compute GELU with the same operations,
// and a refined reciprocal estimate on AVX-512), and do not depend on M,
// the tiling or the thread count; Attention and LayerNorm are
// likewise independent of the batch and the thread count. The generic
// kernels round differently (no FMA) and are slow: they are the
// portable fallback and the twins the assembly is tested against.
//
// # Files
//
// Each kernel family X has X.go (the exported API and the Go driver),
// X_generic.go (the Go twin of the assembly), X_amd64.s with the assembly
// and X_amd64.go with its //go:noescape declarations, X_noasm.go with the
// stand-ins of a build without it, the same for arm64 (X_arm64.s,
// X_arm64.go, X_noneon.go), X_test.go and X_bench_test.go. The
// families are gemm (PackB, PackLinear, Gemm: the micro-kernels and the
// blocking driver), attention (Attention, with the softmax rows), layernorm
// and gelu; bf16 (bf16.go, bf16_amd64.go, gemm_bf16_amd64.s: PackLinearBF16,
// the bf16 units and their twin) with amx.go (the tile configuration and
// model) and amx_linux_amd64.go (the permission), and for arm64
// gemm_bf16_arm64.s and bf16_arm64.go (BFDOT; its detection in
// isa_linux_arm64.go). vecmath.go,
// vecmath_amd64.h and vecmath_arm64.h hold the vectorized exp and GELU
// shared by the assembly (the arm64 header also encodes, as WORDs, the
// vector instructions Go's arm64 assembler lacks); isa*.go the ISA detection; pool.go the workers
// (pause_*.s their spin-wait hint, rusage_*.go the involuntary context
// switches that tell them to stop spinning);
// kernels.go the Kernels type and its scratch memory; tile_amd64.h and
// tile_arm64.h the micro-kernels' shared accumulator tile and prefetch. The float64 twins
// that the tests compare every kernel with are in internal/ref (Matmul,
// Attention, LayerNorm, GELUs).
//
// # bf16
//
// PackLinearBF16 packs weights as bf16 pairs (two consecutive k of a column
// in one 32-bit word, K padded to 32): a Gemm with them rounds A to bf16
// pairs once per call (round to nearest even) and runs the kernels' bf16
// unit (BF16Dot, chosen by NewBF16; BestBF16 by default on AVX512 and NEON
// kernels): VDPBF16PS on the fp32 kernel's 12×32 register block, AMX
// TDPBF16PS on a 24×32 block of four 12×16 tiles (after Linux's arch_prctl
// permission for the tile data; the tile configuration, loads, products,
// stores and release happen inside one assembly function), arm64's BFDOT
// (FEAT_BF16, from Linux's HWCAP2) by element on the same 12×32 tile in
// four 6×16 quarters, or the Go twin. Each
// writes raw fp32 sums; the fp32 micro-kernel then applies the epilogue to
// them (one zero product per row group), so every precision shares it.
// AttentionBF16 runs Q·Kᵀ and P·V so. Go's assembler has no mnemonics for
// these instructions: gemm_bf16_amd64.s emits their bytes, each under its
// Intel-syntax form, and gemm_bf16_arm64.s BFDOT's words. amx.go models
// the tile registers in Go, which tests the AMX kernel's packing, tiling
// and epilogue on every machine. BFDOT rounds its additions to odd and
// flushes denormals, so it matches the twin within a bound (twice fp32's)
// and a Go model of its arithmetic (bfdot_test.go) bit for bit; it is
// tested under qemu-aarch64 -cpu max, and its speed on arm64 hardware has
// not been measured. BFMMLA (a 2×4 by 4×2 bf16 matrix product: 16
// multiply-adds per instruction, twice BFDOT's) would need another packing
// of A and B and is not implemented.
//
// # SGEMM design
//
// B is packed in panels of 32 columns (two zmm, four ymm: one layout for
// every ISA). The AVX-512 micro-kernel keeps a 12×32 tile of C in 24 zmm
// registers and per k loads one panel row and broadcasts twelve A elements
// for 24 FMAs (an 8×32 tile measured about 3% slower: more loads per FMA);
// the AVX2 one keeps a 6×16 tile in 12 ymm registers (12 FMAs
// per k) and covers a panel in two halves, and so does the NEON one, with
// the 6×16 tile in 24 of the 32 q registers, the panel row in 4 and per k
// six broadcast loads (LD1R) for 24 FMLAs. The driver loops, per work item
// (a chunk of up to 256 rows by up to 16 panels), over K blocks of ≤ 256,
// then panels, then row blocks: a panel's K block (≤ 32 KiB) stays in L1
// while the item's slice of A stays in L2, and each micro-kernel call
// prefetches a share of the next panel block, so the weights stream from
// memory behind the arithmetic. Partial sums of earlier K blocks wait in
// per-worker scratch, which is what lets C be R for an in-place residual.
// Tiles past M or N run on zero-padded scratch copies, so the micro-kernels
// need no masks and every M, N, K ≥ 1 works. The epilogue (bias, residual,
// GELU) is applied to each tile in registers or, for GELU, while it is
// still in L1.
package cpu
