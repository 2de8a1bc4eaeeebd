//go:build unix

package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vkdeit/vkdeit/internal/regfile"
)

// lockFile takes an exclusive flock on path (created if needed), waiting
// until it is free or ctx ends, and returns the function that releases it.
// huggingface_hub guards each blob with such a file under .locks/.
func lockFile(ctx context.Context, path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|regfile.NonBlock, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		err = regfile.Check(path, st)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("hub: lock %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("hub: locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("hub: waiting for %s (another download of the same file): %w", path, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
