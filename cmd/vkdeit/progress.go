package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws vkdeit's one progress bar on a terminal's stderr, for
// images being classified and bytes being downloaded:
//
//	[=========>                    ]  312/1000 images  45.2 img/s  ETA 15s
//
// It is drawn from the start (0/N), redrawn at most every redrawEvery, and
// cleared before anything else is printed (Printf), so results and bar
// never share a line of the terminal. A nil *progress draws nothing and
// prints straight through, so callers need no checks.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	unit  string // "images"
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
	if secs := elapsed.Seconds(); p.done > 0 && secs > 0 {
		rate := float64(p.done) / secs
		s += fmt.Sprintf("  %.1f/s", rate)
		if p.done < p.total {
			eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
			s += "  ETA " + eta.Round(time.Second).String()
		}
	}
	return s
}
