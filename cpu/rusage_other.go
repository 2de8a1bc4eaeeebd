//go:build !unix

package cpu

// involuntarySwitches is unknown here (-1): the pool always spins.
func involuntarySwitches() int64 { return -1 }
