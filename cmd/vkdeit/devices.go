package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/vkdeit/vkdeit/gpu"
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
	Index                   int     `json:"index"`
	Name                    string  `json:"name"`
	Type                    string  `json:"type"` // "discrete", "cpu", ...
	Driver                  string  `json:"driver"`
	APIVersion              string  `json:"api_version"`
	MaxSharedMemory         uint32  `json:"max_shared_memory"`
	MaxWorkgroupInvocations uint32  `json:"max_workgroup_invocations"`
	SubgroupSize            uint32  `json:"subgroup_size"`
	Timestamps              bool    `json:"timestamps"`
	TimestampPeriod         float32 `json:"timestamp_period_ns"`
	DeviceLocalBytes        uint64  `json:"device_local_bytes"`
	Unified                 bool    `json:"unified"`
	Picked                  bool    `json:"picked"`
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
				DeviceLocalBytes: d.DeviceLocalBytes, Unified: d.Unified, Picked: d.Index == picked}
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
	fmt.Fprintln(tw, "\tindex\tname\ttype\tdriver\tshared mem\tmax workgroup\tsubgroup\ttimestamps\tmemory")
	for _, d := range infos {
		mark := ""
		if d.Index == picked {
			mark = "*"
		}
		ts := "no"
		if d.Timestamps {
			ts = fmt.Sprintf("%.3g ns", d.TimestampPeriod)
		}
		mem := formatMiB(d.DeviceLocalBytes)
		if d.Unified {
			mem += " (unified)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d KiB\t%d\t%d\t%s\t%s\n", mark, d.Index, d.Name, d.Type, d.Driver,
			d.MaxSharedMemory/1024, d.MaxWorkgroupInvocations, d.SubgroupSize, ts, mem)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pickErr != nil {
		return fmt.Errorf("none of the %d devices can be opened: %w", len(infos), pickErr)
	}
	return nil
}

func formatMiB(n uint64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
