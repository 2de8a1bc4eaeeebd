package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/vkdeit/vkdeit/gpu"
	"github.com/vkdeit/vkdeit/internal/humanize"
)

const devicesSynopsis = `devices

Lists the Vulkan devices and marks with * the one vkdeit uses by default (the
fastest kind present: a discrete GPU before an integrated one before a CPU
driver such as lavapipe). $VKDEIT_DEVICE (an index or a name substring)
overrides the choice for every command. --json prints the same as a JSON array
for scripts.`

const devicesExamples = `  vkdeit devices
  VKDEIT_DEVICE=1 vkdeit devices
  VKDEIT_DEVICE=llvmpipe vkdeit classify photo.jpg
  vkdeit devices --json | jq '.[] | select(.picked) | .type'
`

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
	Picked                  bool          `json:"picked"`
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
	infos, err := gpu.Devices()
	if err != nil {
		return err
	}
	if gpu.OptionsFromEnv().NoCoopMat {
		for i := range infos {
			if infos[i].CoopMat {
				infos[i].CoopMat = false
				infos[i].CoopMatNote = "not used: turned off by VKDEIT_COOPMAT=0"
			}
		}
	}
	picked := -1
	var pickErr error
	if d, err := gpu.Open(gpu.OptionsFromEnv()); err == nil {
		picked = d.Info().Index
		d.Close()
	} else {
		pickErr = err
	}
	if *jsonOut {
		out := make([]deviceJSON, len(infos))
		for i, d := range infos {
			out[i] = deviceJSON{Index: d.Index, Name: d.Name, Type: d.Type.String(), Driver: d.Driver,
				APIVersion: d.APIVersion, MaxSharedMemory: d.MaxSharedMemory, MaxWorkgroupInvocations: d.MaxWorkgroupInvocations,
				SubgroupSize: d.SubgroupSize, Timestamps: d.Timestamps, TimestampPeriod: d.TimestampPeriod,
				DeviceLocalBytes: d.DeviceLocalBytes, Unified: d.Unified,
				FP16: d.FP16(), ShaderFloat16: d.ShaderFloat16, StorageBuffer16Bit: d.StorageBuffer16Bit,
				VulkanMemoryModel: d.VulkanMemoryModel, CoopMat: d.CoopMat, CoopMatNote: d.CoopMatNote,
				CoopMatShapes: coopMatShapes(d), Picked: d.Index == picked}
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		if pickErr != nil {
			return fmt.Errorf("none of the %d devices can be opened: %w", len(infos), pickErr)
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tindex\tname\ttype\tdriver\tshared mem\tmax workgroup\tsubgroup\ttimestamps\tmemory\tfp16")
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
	if pickErr != nil {
		return fmt.Errorf("none of the %d devices can be opened: %w", len(infos), pickErr)
	}
	return nil
}
