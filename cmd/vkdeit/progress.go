package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vkdeit/vkdeit/internal/humanize"
	"github.com/vkdeit/vkdeit/loader/hub"
)

// progress draws vkdeit's one progress bar on a terminal's stderr, for
// images being classified and files being downloaded:
//
//	[=========>                    ] 312/1000 images  45.2/s  ETA 15s
//	[====>                         ] 12.1 MiB/85.6 MiB  9.8 MiB/s  ETA 8s  model.safetensors
//
// It is drawn from the start (0/N), redrawn at most every redrawEvery, and
// cleared before anything else is printed (Printf), so results and bar
// never share a line of the terminal. It is fitted to the terminal's width
// (checked at each redraw) short of the last column, the bar narrowed and
// then the label, ETA and rate dropped, so that it never wraps: a wrapped
// line would no longer be redrawn in place but scroll. A nil *progress
// draws nothing and prints straight through, so callers need no checks.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	cols  func() int // the terminal's width
	unit  string     // "images", or "bytes" (drawn as sizes)
	label string     // what is counted, after the numbers (a file name)
	total int64
	done  int64
	start time.Time
	last  time.Time
	shown bool
}

const redrawEvery = 100 * time.Millisecond

// newProgress returns a bar for total units drawn on e's stderr, or nil
// when stderr is not a terminal or quiet is set.
func newProgress(e *env, quiet bool, total int64, unit string) *progress {
	if !e.terminal || quiet || total <= 0 {
		return nil
	}
	p := &progress{w: e.stderr, cols: e.columns, unit: unit, total: total, start: time.Now()}
	p.mu.Lock()
	p.draw(true)
	p.mu.Unlock()
	return p
}

// Set records that n units are done and redraws.
func (p *progress) Set(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = n
	p.draw(p.done >= p.total)
}

// Add counts n more finished units and redraws.
func (p *progress) Add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.draw(p.done >= p.total)
}

// Printf writes to w (stdout or stderr, either possibly the terminal) with
// the bar cleared, then redraws it.
func (p *progress) Printf(w io.Writer, format string, args ...any) {
	p.Around(func() error {
		fmt.Fprintf(w, format, args...)
		return nil
	})
}

// Around runs f, which prints, with the bar cleared, then redraws the bar.
func (p *progress) Around(f func() error) error {
	if p == nil {
		return f()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	err := f()
	p.draw(true)
	return err
}

// Finish removes the bar.
func (p *progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// draw redraws the bar, at most every redrawEvery unless force is set.
func (p *progress) draw(force bool) {
	now := time.Now()
	if !force && p.shown && now.Sub(p.last) < redrawEvery {
		return
	}
	p.last = now
	fmt.Fprint(p.w, "\r\033[K"+p.line(now.Sub(p.start), p.cols()))
	p.shown = true
}

// maxBar and minBar bound the bar's width in columns, brackets excluded.
const maxBar, minBar = 30, 5

// line renders the bar after elapsed time in at most cols-1 columns (a
// character in the last column makes some terminals wrap): the richest
// text — counts, rate, ETA, label — that leaves room for a bar of at
// least minBar columns, else the counts alone, cut to fit.
func (p *progress) line(elapsed time.Duration, cols int) string {
	counts := fmt.Sprintf("%d/%d %s", p.done, p.total, p.unit)
	if p.unit == "bytes" {
		counts = humanize.Bytes(p.done) + "/" + humanize.Bytes(p.total)
	}
	rate, eta := "", ""
	if secs := elapsed.Seconds(); p.done > 0 && secs > 0 {
		r := float64(p.done) / secs
		if p.unit == "bytes" {
			rate = "  " + humanize.Bytes(int64(r)) + "/s"
		} else {
			rate = fmt.Sprintf("  %.1f/s", r)
		}
		if p.done < p.total {
			eta = "  ETA " + time.Duration(float64(p.total-p.done)/r*float64(time.Second)).Round(time.Second).String()
		}
	}
	label := ""
	if p.label != "" {
		label = "  " + p.label
	}
	avail := cols - 1
	for _, text := range []string{counts + rate + eta + label, counts + rate + eta, counts + rate, counts} {
		if w := min(maxBar, avail-utf8.RuneCountInString(text)-3); w >= minBar {
			return p.bar(w) + " " + text
		}
	}
	if r := []rune(counts); len(r) > avail {
		return string(r[:max(avail, 0)])
	}
	return counts
}

// bar draws the bar of width columns (brackets excluded).
func (p *progress) bar(width int) string {
	frac := min(max(float64(p.done)/float64(p.total), 0), 1)
	fill := int(frac * float64(width))
	b := strings.Repeat("=", fill)
	if fill < width {
		b += ">" + strings.Repeat(" ", width-fill-1)
	}
	return "[" + b + "]"
}

// downloadProgress returns a hub.Progress drawing one bar per file being
// downloaded (nil, drawing nothing, when stderr is not a terminal or quiet),
// and the function that removes the last bar.
func downloadProgress(e *env, quiet bool) (hub.Progress, func()) {
	if !e.terminal || quiet {
		return nil, func() {}
	}
	var bar *progress
	var file string
	report := func(f string, have, total int64) {
		if f != file || bar == nil {
			bar.Finish()
			file = f
			bar = nil
			if total > 0 {
				bar = newProgress(e, quiet, total, "bytes")
				bar.label = f
			}
		}
		bar.Set(have)
	}
	return report, func() { bar.Finish() }
}

// summarize prints the one line that ends a run over images (unless
// quiet), where the progress bar was: inputs, errors among them, wall time
// and rate, e.g. "vkdeit: embed: 1000 images, 3 errors, 22.1s, 45.2 img/s".
func summarize(e *env, quiet bool, cmd string, images, errors int, elapsed time.Duration) {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(images) / s
	}
	plural := func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	}
	e.notef(quiet, "%s: %d %s, %d %s, %v, %.1f img/s", cmd, images, plural(images, "image", "images"),
		errors, plural(errors, "error", "errors"), elapsed.Round(time.Millisecond), rate)
}
