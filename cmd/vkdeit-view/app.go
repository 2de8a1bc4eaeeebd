package main

import (
	"path/filepath"
)

// app is the viewer's state, apart from the window: the images, which one
// is shown, its classification, and what to classify next. Its methods
// return the classification requests the window loop hands to the worker;
// results come back through done, and only the latest request's counts.
type app struct {
	files   []string
	pos     int
	overlay bool
	engine  string

	gen     uint64 // the latest request's number
	stamp   stamp  // the version of files[pos] requested last
	cur     result // the latest request's result
	pending bool   // the latest request has no result yet
}

// request asks the worker to classify path; gen tells results apart.
type request struct {
	gen  uint64
	path string
}

// request starts a classification of the current file; what is shown
// stays until the result comes.
func (a *app) request() request {
	a.gen++
	a.stamp = stampOf(a.files[a.pos])
	a.pending = true
	return request{gen: a.gen, path: a.files[a.pos]}
}

// step moves delta images on (wrapping around) and requests the new one.
func (a *app) step(delta int) request {
	n := len(a.files)
	a.pos = ((a.pos+delta)%n + n) % n
	a.cur = result{}
	return a.request()
}

// poll requests the current file again when it changed on disk since it
// was last requested (the old result stays on screen meanwhile).
func (a *app) poll() (request, bool) {
	if stampOf(a.files[a.pos]) == a.stamp {
		return request{}, false
	}
	return a.request(), true
}

// done takes a result; it reports false (and drops it) when a later
// request superseded the one it answers.
func (a *app) done(gen uint64, r result) bool {
	if gen != a.gen {
		return false
	}
	a.cur, a.pending = r, false
	return true
}

// view is what the window shows now.
func (a *app) view() *view {
	v := &view{
		Name:    filepath.Base(a.files[a.pos]),
		Pos:     a.pos + 1,
		Count:   len(a.files),
		Overlay: a.overlay,
		Engine:  a.engine,
		Crop:    a.cur.crop,
		Preds:   a.cur.preds,
		Heat:    a.cur.heat,
	}
	switch {
	case a.pending:
		v.Status = "classifying ..."
	case a.cur.err != nil:
		v.Status, v.Err = a.cur.err.Error(), true
	}
	return v
}
