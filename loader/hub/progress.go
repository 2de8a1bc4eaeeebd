package hub

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressEvery is the least time between two redraws of a progress bar.
const progressEvery = 150 * time.Millisecond

// progress draws a one-line download bar, redrawn in place with '\r':
//
//	model.safetensors  [==========>             ]  45%  40.4 MB/89.8 MB  12.3 MB/s
//
// A nil *progress (no writer) does nothing, so callers need no checks.
type progress struct {
	w     io.Writer
	name  string
	total int64 // -1 when unknown
	done  int64
	start time.Time
	base  int64 // bytes present before this run (resumed), not counted in the rate
	last  time.Time
	drawn bool
}

// newProgress returns a bar for name of total bytes on w, nil when w is nil.
func newProgress(w io.Writer, name string, total int64) *progress {
	if w == nil {
		return nil
	}
	now := time.Now()
	return &progress{w: w, name: name, total: total, start: now, base: -1}
}

// set records that n bytes are on disk (a resumed or restarted download).
func (p *progress) set(n int64) {
	if p == nil {
		return
	}
	p.done = n
	if p.base < 0 {
		p.base = n
	}
	p.draw(false)
}

// Write counts bytes as they are saved; it never fails.
func (p *progress) Write(b []byte) (int, error) {
	if p == nil {
		return len(b), nil
	}
	p.done += int64(len(b))
	p.draw(false)
	return len(b), nil
}

// finish draws the final state and ends the line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.draw(true)
	fmt.Fprintln(p.w)
}

// draw redraws the bar, at most every progressEvery unless force is set.
func (p *progress) draw(force bool) {
	now := time.Now()
	if !force && p.drawn && now.Sub(p.last) < progressEvery {
		return
	}
	p.last, p.drawn = now, true
	fmt.Fprint(p.w, "\r"+p.line(now.Sub(p.start)))
}

// line renders the bar for the state after elapsed time.
func (p *progress) line(elapsed time.Duration) string {
	const width = 24
	var b strings.Builder
	b.WriteString(p.name)
	if p.total > 0 {
		frac := float64(p.done) / float64(p.total)
		frac = min(max(frac, 0), 1)
		fill := int(frac * width)
		bar := strings.Repeat("=", fill)
		if fill < width {
			bar += ">" + strings.Repeat(" ", width-fill-1)
		}
		fmt.Fprintf(&b, "  [%s] %3.0f%%  %s/%s", bar, frac*100, formatBytes(p.done), formatBytes(p.total))
	} else {
		fmt.Fprintf(&b, "  %s", formatBytes(p.done))
	}
	if base := max(p.base, 0); elapsed > 0 && p.done > base {
		rate := float64(p.done-base) / elapsed.Seconds()
		fmt.Fprintf(&b, "  %s/s", formatBytes(int64(rate)))
	}
	return b.String() + "   " // spaces wipe the tail of a longer previous line
}

// formatBytes prints a byte count with a decimal unit, as the Hub's pages do.
func formatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
