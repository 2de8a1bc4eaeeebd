package gpu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openValidated opens a device with opts and the validation layer capturing
// messages. Without a device or without the layer it skips when $CI is
// unset and fails when it is set, like every Vulkan test.
func openValidated(t *testing.T, opts Options) (*Device, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	opts.Log = &log
	d, err := Open(opts)
	ci := os.Getenv("CI") != ""
	if errors.Is(err, ErrNoDevice) && !ci {
		t.Skip(err)
	}
	require.NoError(t, err)
	if d.vlog == nil {
		require.NoError(t, d.Close())
		if !ci {
			t.Skipf("validation layer unavailable: %s", log.String())
		}
		t.Fatalf("validation layer unavailable with CI set: %s", log.String())
	}
	return d, &log
}

// TestValidationCatchesLeak proves that validation messages are captured,
// including those emitted while closing: a fence created behind the
// runtime's back must be reported as leaked by Close.
func TestValidationCatchesLeak(t *testing.T) {
	d, _ := openValidated(t, Options{Validation: true})
	f, err := d.newFence()
	require.NoError(t, err)
	require.NotNil(t, f)
	require.Empty(t, d.ValidationMessages())
	require.NoError(t, d.Close())
	msgs := d.ValidationMessages()
	require.NotEmpty(t, msgs, "leaked fence not reported")
	require.Contains(t, strings.Join(msgs, "\n"), "VkFence")
	t.Logf("reported: %s", msgs)
}

// TestSyncValidationCatchesMissingBarrier proves synchronization validation
// is on: the same read-after-write chain that runs silently with hazard
// barriers is reported once they are suppressed.
func TestSyncValidationCatchesMissingBarrier(t *testing.T) {
	spv, err := os.ReadFile("testdata/add.spv")
	require.NoError(t, err)
	add := Kernel{Name: "test-add", SPIRV: spv, Bindings: 2, PushBytes: 8}
	for _, skip := range []bool{false, true} {
		d, _ := openValidated(t, Options{Validation: true})
		p, err := d.Pipeline(add)
		require.NoError(t, err)
		var bufs [3]*Buffer
		for i := range bufs {
			bufs[i], err = d.NewBuffer(4 * 64)
			require.NoError(t, err)
		}
		s, err := d.NewSequence(false)
		require.NoError(t, err)
		s.noBarriers = skip
		require.NoError(t, s.Dispatch("a", p, [3]uint32{1, 1, 1}, Push(64, float32(1)), R(bufs[0]), W(bufs[1])))
		require.NoError(t, s.Dispatch("b", p, [3]uint32{1, 1, 1}, Push(64, float32(1)), R(bufs[1]), W(bufs[2])))
		if !skip {
			require.Equal(t, 1, s.Barriers())
		}
		require.NoError(t, s.Finish())
		require.NoError(t, s.Run(context.Background()))
		s.Close()
		require.NoError(t, d.Close())
		msgs := strings.Join(d.ValidationMessages(), "\n")
		if skip {
			require.Contains(t, msgs, "SYNC-HAZARD-READ-AFTER-WRITE")
		} else {
			require.Empty(t, msgs)
		}
	}
}

// TestValidationFromEnvironment: with validation switched on by
// $VKDEIT_VALIDATION through OptionsFromEnv and a Log given, Close writes
// the messages to the log, where a program that never reads
// ValidationMessages still shows them.
func TestValidationFromEnvironment(t *testing.T) {
	t.Setenv("VKDEIT_VALIDATION", "1")
	d, log := openValidated(t, OptionsFromEnv())
	_, err := d.newFence() // leaked on purpose
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.NotEmpty(t, d.ValidationMessages())
	require.Contains(t, log.String(), "gpu: validation: ")
	require.Contains(t, log.String(), "VkFence")
}
