// Package humanize formats quantities for people: the one byte formatter
// every vkdeit report and progress bar uses.
package humanize

import "fmt"

// Bytes renders n bytes with a binary unit: "512 B", "12.3 KiB",
// "88.4 MiB", "1.5 GiB".
func Bytes(n int64) string {
	const k = 1024
	switch a := max(n, -n); {
	case a >= k*k*k*k:
		return fmt.Sprintf("%.1f TiB", float64(n)/(k*k*k*k))
	case a >= k*k*k:
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	case a >= k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	case a >= k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	}
	return fmt.Sprintf("%d B", n)
}
