package regfiletest

import (
	"testing"
	"time"
)

// DefaultTimeout bounds how long an open may take before RequireRefused
// calls it blocked. Opens that are refused return at once; the bound only
// keeps a regression to a blocking open from hanging the test run, so it
// is generous for a loaded machine.
const DefaultTimeout = 10 * time.Second

// Within runs f and fails t if f has not returned after d, so that a
// regression to a hang fails instead of blocking the test run. It bounds
// time; it does not measure speed.
func Within(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	if !within(d, f) {
		t.Fatalf("still running after %v", d)
	}
}

// within runs f in a goroutine and reports whether it returned within d.
func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
