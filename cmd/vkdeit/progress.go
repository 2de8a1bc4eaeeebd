package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

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
// never share a line of the terminal. A nil *progress draws nothing and
// prints straight through, so callers need no checks.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	unit  string // "images", or "bytes" (drawn as sizes)
	label string // what is counted, after the numbers (a file name)
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
	p := &progress{w: e.stderr, unit: unit, total: total, start: time.Now()}
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
	fmt.Fprint(p.w, "\r\033[K"+p.line(now.Sub(p.start)))
	p.shown = true
}

// line renders the bar after elapsed time.
func (p *progress) line(elapsed time.Duration) string {
	const width = 30
	frac := min(max(float64(p.done)/float64(p.total), 0), 1)
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	s := fmt.Sprintf("[%s] %d/%d %s", bar, p.done, p.total, p.unit)
	if p.unit == "bytes" {
		s = fmt.Sprintf("[%s] %s/%s", bar, humanize.Bytes(p.done), humanize.Bytes(p.total))
	}
	if secs := elapsed.Seconds(); p.done > 0 && secs > 0 {
		rate := float64(p.done) / secs
		if p.unit == "bytes" {
			s += "  " + humanize.Bytes(int64(rate)) + "/s"
		} else {
			s += fmt.Sprintf("  %.1f/s", rate)
		}
		if p.done < p.total {
			eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
			s += "  ETA " + eta.Round(time.Second).String()
		}
	}
	if p.label != "" {
		s += "  " + p.label
	}
	return s
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
