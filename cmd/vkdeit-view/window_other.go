//go:build !linux || wayland

package main

import "github.com/go-gl/glfw/v3.3/glfw"

// windowID names the window in the --verbose log; only X11 has an id to give.
func windowID(*glfw.Window) string { return "(no X11 id)" }
