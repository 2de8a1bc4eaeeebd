// Package version reports what build of vkdeit is running, from the
// information go build stamps into every binary.
package version

import (
	"runtime/debug"
	"strings"
)

// Commit is the VCS revision go build stamped into the binary (12 hex
// digits, "+dirty" when the tree had changes), or "" when there is none.
func Commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(12, len(rev))] + dirty
}

// String is the module version, the revision when the version does not
// already carry it, and the Go version: e.g.
// "v0.0.0-20261201093000-0123456789ab go1.26.8". Since Go 1.24 a build
// inside a git checkout has the revision in its pseudo-version already.
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if rev := Commit(); rev != "" && !strings.Contains(v, strings.TrimSuffix(rev, "+dirty")) {
		v += " " + rev
	}
	return v + " " + bi.GoVersion
}
