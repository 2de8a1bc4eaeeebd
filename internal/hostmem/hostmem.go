// Package hostmem says how much host memory a program can still allocate,
// so that batch sizes chosen by users are checked before they are
// allocated (bench, the CPU engine).
package hostmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Available is the memory the kernel says can be allocated without
// swapping (MemAvailable in /proc/meminfo), or 4 GiB where that cannot be
// read.
func Available() int64 {
	const fallback = 4 << 30
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return fallback
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil || kb <= 0 {
			return fallback
		}
		return kb << 10
	}
	return fallback
}
