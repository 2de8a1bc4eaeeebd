package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/vkdeit/vkdeit/cpu"
	"github.com/vkdeit/vkdeit/engine"
	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/humanize"
)

const devicesSynopsis = `devices

Lists what can run the model — the Vulkan devices and the CPU engine (its
SIMD instruction set and threads) — and marks with * what --device auto
uses: the Vulkan device vkdeit picks (a discrete GPU before an integrated
one) when the machine has a Vulkan GPU, else the CPU engine, which is faster
than a CPU Vulkan driver such as lavapipe (that one runs with --device gpu
or its index). $VKDEIT_DEVICE (an index or a name substring) overrides the
choice for every command. --json prints the same as a JSON array for
scripts ("engine": "vulkan" or "cpu").`

const devicesExamples = `  vkdeit devices
  VKDEIT_DEVICE=1 vkdeit devices
  VKDEIT_DEVICE=llvmpipe vkdeit classify photo.jpg
  vkdeit devices --json | jq '.[] | select(.picked) | .name'
`

// cpuEngineJSON is the CPU engine in devices --json.
type cpuEngineJSON struct {
	Engine     string   `json:"engine"` // "cpu"
	Name       string   `json:"name"`
	ISA        string   `json:"isa"`     // the SIMD kernels: "avx512", "avx2", "neon", "generic"
	Threads    int      `json:"threads"` // goroutines it computes on (GOMAXPROCS unless --threads)
	Precisions []string `json:"precisions"`
	Picked     bool     `json:"picked"` // --device auto runs it
}

// cpuEngineName describes the CPU engine --device cpu (or auto without a
// Vulkan GPU) builds, as devices lists it.
func cpuEngineName(isa cpu.ISA, threads int) string {
	return fmt.Sprintf("CPU engine (%s kernels, %d threads)", isa, threads)
}

// deviceJSON is one device in devices --json.
type deviceJSON struct {
	Index                   int           `json:"index"`
	Name                    string        `json:"name"`
	Type                    string        `json:"type"` // "discrete", "cpu", ...
	Driver                  string        `json:"driver"`
	APIVersion              string        `json:"api_version"`
	MaxSharedMemory         uint32        `json:"max_shared_memory"`
	MaxWorkgroupInvocations uint32        `json:"max_workgroup_invocations"`
	SubgroupSize            uint32        `json:"subgroup_size"`
	Timestamps              bool          `json:"timestamps"`
	TimestampPeriod         float32       `json:"timestamp_period_ns"`
	DeviceLocalBytes        uint64        `json:"device_local_bytes"`
	Unified                 bool          `json:"unified"`
	FP16                    bool          `json:"fp16"` // shaderFloat16 and 16-bit storage: --precision fp16 runs
	ShaderFloat16           bool          `json:"shader_float16"`
	StorageBuffer16Bit      bool          `json:"storage_buffer_16bit"`
	VulkanMemoryModel       bool          `json:"vulkan_memory_model"`
	CoopMat                 bool          `json:"coopmat"` // cooperative matrices used (fp16 tensor-core kernels)
	CoopMatNote             string        `json:"coopmat_note"`
	CoopMatShapes           []coopMatJSON `json:"coopmat_shapes"`
	Picked                  bool          `json:"picked"` // --device auto runs it
	GPU                     bool          `json:"gpu"`    // --device gpu runs it
	Engine                  string        `json:"engine"` // "vulkan"
}

// coopMatJSON is one cooperative-matrix shape in devices --json.
type coopMatJSON struct {
	M      uint32 `json:"m"`
	N      uint32 `json:"n"`
	K      uint32 `json:"k"`
	A      string `json:"a"`
	B      string `json:"b"`
	C      string `json:"c"`
	Result string `json:"result"`
	Scope  string `json:"scope"`
}

func coopMatShapes(d gpu.DeviceInfo) []coopMatJSON {
	out := []coopMatJSON{}
	for _, s := range d.CoopMatShapes {
		out = append(out, coopMatJSON{M: s.M, N: s.N, K: s.K, A: s.A.String(), B: s.B.String(), C: s.C.String(),
			Result: s.Result.String(), Scope: s.Scope.String()})
	}
	return out
}

// fp16Summary is the table's fp16 column: what --precision fp16 and auto get.
func fp16Summary(d gpu.DeviceInfo) string {
	switch {
	case d.CoopMat:
		return fmt.Sprintf("yes, coopmat %d shapes", len(d.HalfFloatShapes()))
	case d.FP16():
		return "yes"
	}
	return "no"
}

func runDevices(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "devices", devicesSynopsis, devicesExamples)
	jsonOut := fs.Bool("json", false, "print a JSON array instead of a table")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("devices: takes no arguments")
	}
	gopts := gpu.OptionsFromEnv()
	infos, vkErr := gpu.Devices()
	if vkErr != nil {
		infos = nil
		e.notef(false, "no Vulkan devices: %v", vkErr)
	}
	if gopts.NoCoopMat {
		for i := range infos {
			if infos[i].CoopMat {
				infos[i].CoopMat = false
				infos[i].CoopMatNote = "not used: turned off by VKDEIT_COOPMAT=0"
			}
		}
	}
	// What --device gpu runs: the Vulkan device that opening the default
	// (or $VKDEIT_DEVICE) picks; --device auto runs it too, or the CPU
	// engine when it is only a CPU Vulkan driver.
	kind, sel := engine.ResolveDevice("auto", gopts.Select)
	picked, gpuPick := -1, -1
	var pickErr error
	if _, gsel := engine.ResolveDevice("gpu", gopts.Select); len(infos) > 0 {
		gopts.Select = gsel
		if d, err := gpu.Open(gopts); err == nil {
			gpuPick = d.Info().Index
			d.Close()
		} else if kind == engine.KindGPU {
			pickErr = fmt.Errorf("--device auto would use a Vulkan device, but none of the %d can be opened: %w", len(infos), err)
		}
	}
	if kind == engine.KindGPU && sel == gopts.Select {
		picked = gpuPick
	}
	cpuISA, threads := cpu.Best(), runtime.GOMAXPROCS(0)
	cpuPicked := kind == engine.KindCPU
	if *jsonOut {
		out := make([]any, 0, len(infos)+1)
		for _, d := range infos {
			out = append(out, deviceJSON{Index: d.Index, Name: d.Name, Type: d.Type.String(), Driver: d.Driver,
				APIVersion: d.APIVersion, MaxSharedMemory: d.MaxSharedMemory, MaxWorkgroupInvocations: d.MaxWorkgroupInvocations,
				SubgroupSize: d.SubgroupSize, Timestamps: d.Timestamps, TimestampPeriod: d.TimestampPeriod,
				DeviceLocalBytes: d.DeviceLocalBytes, Unified: d.Unified,
				FP16: d.FP16(), ShaderFloat16: d.ShaderFloat16, StorageBuffer16Bit: d.StorageBuffer16Bit,
				VulkanMemoryModel: d.VulkanMemoryModel, CoopMat: d.CoopMat, CoopMatNote: d.CoopMatNote,
				CoopMatShapes: coopMatShapes(d), Picked: d.Index == picked, GPU: d.Index == gpuPick, Engine: "vulkan"})
		}
		out = append(out, cpuEngineJSON{Engine: "cpu", Name: cpuEngineName(cpuISA, threads), ISA: cpuISA.String(),
			Threads: threads, Precisions: cpuPrecisionNames(), Picked: cpuPicked})
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return pickErr
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	if len(infos) > 0 {
		fmt.Fprintln(tw, "\tindex\tname\ttype\tdriver\tshared mem\tmax workgroup\tsubgroup\ttimestamps\tmemory\tfp16")
	}
	for _, d := range infos {
		mark := ""
		if d.Index == picked {
			mark = "*"
		}
		ts := "no"
		if d.Timestamps {
			ts = fmt.Sprintf("%.3g ns", d.TimestampPeriod)
		}
		mem := humanize.Bytes(int64(d.DeviceLocalBytes))
		if d.Unified {
			mem += " (unified)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d KiB\t%d\t%d\t%s\t%s\t%s\n", mark, d.Index, d.Name, d.Type, d.Driver,
			d.MaxSharedMemory/1024, d.MaxWorkgroupInvocations, d.SubgroupSize, ts, mem, fp16Summary(d))
	}
	mark := ""
	if cpuPicked {
		mark = "*"
	}
	fmt.Fprintf(tw, "%s\tcpu\t%s\tSIMD\t-\t\t\t\t\t\tno (%s)\n", mark, cpuEngineName(cpuISA, threads), strings.Join(cpuPrecisionNames(), ", "))
	if err := tw.Flush(); err != nil {
		return err
	}
	// The cooperative-matrix shapes, one line each, below the table.
	for _, d := range infos {
		if len(d.CoopMatShapes) == 0 {
			continue
		}
		fmt.Fprintf(e.stdout, "device %d cooperative matrices (%s):\n", d.Index, d.CoopMatNote)
		for _, s := range d.CoopMatShapes {
			fmt.Fprintf(e.stdout, "  %v\n", s)
		}
	}
	switch {
	case cpuPicked && len(infos) > 0:
		fmt.Fprintln(e.stdout, "--device auto runs the CPU engine: no Vulkan GPU (a CPU Vulkan driver runs with --device gpu or its index).")
	case cpuPicked:
		fmt.Fprintln(e.stdout, "--device auto runs the CPU engine.")
	case picked >= 0:
		fmt.Fprintf(e.stdout, "--device auto runs Vulkan device %d; --device cpu the CPU engine.\n", picked)
	}
	return pickErr
}

// cpuPrecisionNames are the precisions the CPU engine runs, for people.
func cpuPrecisionNames() []string {
	var names []string
	for _, p := range engine.Precisions(engine.KindCPU) {
		names = append(names, p.String())
	}
	return names
}
