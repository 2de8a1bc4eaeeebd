package bench

import (
	"sort"

	"github.com/vkdeit/vkdeit/engine"
)

// KernelStat is one row of the per-kernel breakdown: every dispatch of one
// kernel in a forward pass, from GPU timestamps, averaged over profiled runs.
type KernelStat struct {
	Kernel string `json:"kernel"`
	// Count is the number of dispatches of this kernel in one forward pass.
	Count int `json:"count"`
	// TotalMicros is their summed GPU time in one forward pass, in µs.
	TotalMicros float64 `json:"total_us"`
	// Share is TotalMicros over the whole forward pass's dispatch time (0..1).
	Share float64 `json:"share"`
	// GFLOPS is the kernel's useful FLOPs over its time; 0 for glue kernels
	// whose dispatches report no FLOPs.
	GFLOPS float64 `json:"gflops"`
}

// GroupKernels groups the dispatches of one or more profiled runs of the same
// forward pass by kernel name. Count is per run (the largest seen, so a run
// that lost a timestamp does not lower it), times and FLOPs are averaged over
// runs. Rows are sorted by total time, largest first, ties by name.
func GroupKernels(runs ...[]engine.StepTime) []KernelStat {
	if len(runs) == 0 {
		return nil
	}
	type acc struct {
		nanos, flops float64
		count        int
	}
	by := map[string]*acc{}
	var total float64
	for _, run := range runs {
		counts := map[string]int{}
		for _, d := range run {
			a := by[d.Kernel]
			if a == nil {
				a = &acc{}
				by[d.Kernel] = a
			}
			a.nanos += d.Nanos
			a.flops += d.FLOPs
			total += d.Nanos
			counts[d.Kernel]++
		}
		for k, c := range counts {
			if c > by[k].count {
				by[k].count = c
			}
		}
	}
	n := float64(len(runs))
	out := make([]KernelStat, 0, len(by))
	for k, a := range by {
		s := KernelStat{Kernel: k, Count: a.count, TotalMicros: a.nanos / n / 1e3}
		if total > 0 {
			s.Share = a.nanos / total
		}
		if a.nanos > 0 {
			s.GFLOPS = a.flops / a.nanos // FLOP per ns = GFLOP/s
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TotalMicros != out[j].TotalMicros {
			return out[i].TotalMicros > out[j].TotalMicros
		}
		return out[i].Kernel < out[j].Kernel
	})
	return out
}

// DeviceMillis returns the summed dispatch time of one profiled run in ms.
func DeviceMillis(run []engine.StepTime) float64 {
	var ns float64
	for _, d := range run {
		ns += d.Nanos
	}
	return ns / 1e6
}
