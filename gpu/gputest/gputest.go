// Package gputest opens Vulkan devices for tests with the validation layer
// on and turns every validation message into a test failure.
package gputest

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/vkdeit/vkdeit/gpu"
)

// Open opens the device gpu.OptionsFromEnv selects ($VKDEIT_DEVICE, else the
// default preference; $VKDEIT_COOPMAT=0 keeps cooperative matrices off) with
// validation on. When
// no device exists the test is skipped, unless $CI is set, where that is a
// failure. A cleanup closes the device and fails the test if the validation
// layer reported anything, including leaks found while closing.
func Open(t testing.TB) *gpu.Device {
	t.Helper()
	env := gpu.OptionsFromEnv()
	return OpenOptions(t, gpu.Options{Select: env.Select, NoCoopMat: env.NoCoopMat})
}

// testLog sends device notes to the test log.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// OpenOptions is Open with explicit options; Validation is forced on and
// Log defaults to the test log.
func OpenOptions(t testing.TB, opts gpu.Options) *gpu.Device {
	t.Helper()
	opts.Validation = true
	if opts.Log == nil {
		opts.Log = testLog{t}
	}
	d, err := gpu.Open(opts)
	if err != nil {
		if errors.Is(err, gpu.ErrNoDevice) && os.Getenv("CI") == "" {
			t.Skipf("no Vulkan device (set CI=true to make this a failure): %v", err)
		}
		t.Fatalf("opening Vulkan device: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("closing device: %v", err)
		}
		if msgs := d.ValidationMessages(); len(msgs) > 0 {
			t.Errorf("validation layer reported %d message(s):\n%s", len(msgs), strings.Join(msgs, "\n"))
		}
	})
	return d
}
