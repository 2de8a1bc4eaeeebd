// Package shaders holds vkdeit's GLSL compute kernels and their compiled
// SPIR-V. The .spv files are committed and embedded, so building vkdeit needs
// no shader compiler; build.sh (make shaders) regenerates them from the .comp
// sources (plus the builds listed in the variants file, such as the -DFP16
// fp16-storage kernels named *_f16) and shaders_test.go checks that the two
// agree. The cooperative-matrix kernels (*_coopmat) need a newer glslc than
// Debian 12's: build.sh and the test take it from the coopmat lane
// (scripts/vulkan-lane.sh).
package shaders

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.spv
var spirv embed.FS

// SPIRV returns the compiled SPIR-V of the kernel name (the .comp file name
// without extension, e.g. "matmul_regblock"). The returned slice is a fresh copy.
func SPIRV(name string) ([]byte, error) {
	b, err := spirv.ReadFile(name + ".spv")
	if err != nil {
		return nil, fmt.Errorf("shaders: no kernel %q: %w", name, err)
	}
	return b, nil
}

// Names lists the embedded kernels, sorted.
func Names() []string {
	ents, err := fs.ReadDir(spirv, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".spv"))
	}
	sort.Strings(names)
	return names
}
