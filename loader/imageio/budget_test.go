package imageio

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// queued waits until b has n waiters.
func queued(t *testing.T, b *Budget, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.waiters.Len() == n
	}, 5*time.Second, time.Millisecond)
}

func TestImageBudgetAcquireRelease(t *testing.T) {
	ctx := context.Background()
	b := NewBudget(100)
	require.EqualValues(t, 100, b.Size())

	err := b.Acquire(ctx, 101)
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "more than the whole budget of 100 bytes")

	require.NoError(t, b.Acquire(ctx, 60))
	// 50 does not fit: it waits, and a later 10 that would fit waits behind it.
	got := make(chan int64, 2)
	go func() {
		if b.Acquire(ctx, 50) == nil {
			got <- 50
		}
	}()
	queued(t, b, 1)
	go func() {
		if b.Acquire(ctx, 10) == nil {
			got <- 10
		}
	}()
	queued(t, b, 2)
	select {
	case n := <-got:
		t.Fatalf("acquired %d out of turn (60 of 100 held, 50 waiting first)", n)
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(10) // 50 free: enough for the first waiter only
	require.Equal(t, int64(50), <-got)
	select {
	case n := <-got:
		t.Fatalf("acquired %d with the budget full", n)
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(50)
	require.Equal(t, int64(10), <-got)
	b.Release(50)
	b.Release(10)
	require.Zero(t, b.used)
	require.Panics(t, func() { b.Release(1) })
}

// A waiter that gives up (its context ends) leaves the budget as it was and
// lets the waiters behind it through.
func TestImageBudgetCancel(t *testing.T) {
	b := NewBudget(100)
	require.NoError(t, b.Acquire(context.Background(), 70))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Acquire(ctx, 50) }()
	queued(t, b, 1)
	small := make(chan error)
	go func() { small <- b.Acquire(context.Background(), 30) }() // fits, but queues behind 50
	queued(t, b, 2)
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "waiting for 50 bytes of the decode budget")
	require.NoError(t, <-small)
	b.Release(30)
	b.Release(70)
	require.Zero(t, b.used)
	require.Zero(t, b.waiters.Len())
}

// The Go memory limit of a decoding process: the budget, what the process
// holds, and MemoryHeadroom; never below a limit already set (GOMEMLIMIT),
// saturating rather than overflowing.
func TestImageBudgetMemoryLimit(t *testing.T) {
	b := NewBudget(1 << 30)
	require.Equal(t, int64(1<<30+300<<20+MemoryHeadroom), b.MemoryLimit(300<<20))
	require.Equal(t, int64(math.MaxInt64), b.MemoryLimit(math.MaxInt64-1))

	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
	inUse := goMemoryInUse()
	require.Positive(t, inUse)
	limit := b.LimitProcessMemory()
	require.Equal(t, limit, debug.SetMemoryLimit(-1), "set")
	// The Go memory in use was measured then: within a few MiB of now.
	require.InDelta(t, b.MemoryLimit(inUse), limit, 8<<20)

	lower := int64(100 << 20)
	debug.SetMemoryLimit(lower)
	require.Equal(t, lower, b.LimitProcessMemory(), "a lower limit stays")
	require.Equal(t, lower, debug.SetMemoryLimit(-1))
}
