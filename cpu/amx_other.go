//go:build !linux || !amd64 || purego

package cpu

// amxUsable is false: the AMX kernel needs Linux's tile permission
// request and the amd64 assembly.
func amxUsable() bool { return false }
