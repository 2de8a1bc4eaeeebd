package regfiletest

import (
	"testing"
	"time"
)

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
