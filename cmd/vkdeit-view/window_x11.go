//go:build linux && !wayland

package main

import (
	"fmt"

	"github.com/go-gl/glfw/v3.3/glfw"
)

// windowID is the window's X11 id, for the --verbose log (xwd -id takes it).
func windowID(win *glfw.Window) string { return fmt.Sprintf("0x%x", win.GetX11Window()) }
