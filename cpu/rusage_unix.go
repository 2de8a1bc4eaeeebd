//go:build unix

package cpu

import "syscall"

// involuntarySwitches is the process's count of involuntary context
// switches (getrusage's ru_nivcsw): how often the kernel took a core from
// one of its threads for another runnable thread. -1 if unknown.
func involuntarySwitches() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return int64(ru.Nivcsw)
}
