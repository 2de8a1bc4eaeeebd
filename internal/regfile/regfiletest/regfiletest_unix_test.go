//go:build unix

package regfiletest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vkdeit/vkdeit/internal/regfile"
)

// recorder is a testing.TB that records failures instead of failing the
// real test; FailNow ends the calling goroutine as testing.T's does.
type recorder struct {
	testing.TB // the real test: TempDir, Cleanup, Logf
	mu         sync.Mutex
	msgs       []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); r.FailNow() }

func (r *recorder) FailNow() { runtime.Goexit() }

// run calls RequireRefused with a recorder and returns what it reported.
func run(t *testing.T, open func(string) error, want Want) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		RequireRefused(r, open, want)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

func TestRequireRefused(t *testing.T) {
	const limit = 100
	good := func(p string) error {
		_, err := regfile.ReadFile(p, limit)
		return err
	}
	for _, tc := range []struct {
		name string
		open func(string) error
		want Want
		fail string // "" when the opener must pass
	}{
		{"regfile.ReadFile passes", good, Want{Name: "c.json", Limit: limit, Accept: []byte("{}")}, ""},
		{"a wrapped error passes", func(p string) error {
			if err := good(p); err != nil {
				return fmt.Errorf("pkg: %w", err)
			}
			return nil
		}, Want{Limit: limit, Accept: []byte("x")}, ""},
		{"no limit asked, none checked", func(p string) error { _, _, err := regfile.Open(p); return err }, Want{}, ""},
		{"a plain open blocks on the FIFO", func(p string) error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.ReadAll(io.LimitReader(f, limit+1)) // /dev/zero must not stream forever here
			return err
		}, Want{timeout: 200 * time.Millisecond}, "still blocked after 200ms"},
		{"refusing everything fails the control", func(p string) error {
			return &fs.PathError{Op: "open", Path: p, Err: errors.New("no")}
		}, Want{Accept: []byte("x")}, "a regular file must be accepted"},
		{"no size limit", func(p string) error { _, _, err := regfile.Open(p); return err }, Want{Limit: limit}, "a file of Limit+1 bytes must be refused"},
		{"another limit message", good, Want{Limit: limit, TooLarge: "image too large"}, "image too large"},
		{"the path left out", func(p string) error {
			var pe *fs.PathError
			if err := good(p); errors.As(err, &pe) {
				return pe.Err
			}
			return nil
		}, Want{}, "not a regular file"},
		{"not wrapping ErrNotRegular", func(p string) error {
			if err := good(p); err != nil {
				return errors.New(err.Error())
			}
			return nil
		}, Want{}, "should be in err chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.open, tc.want)
			if tc.fail == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.fail)
		})
	}
}

func TestWithin(t *testing.T) {
	r := &recorder{TB: t}
	Within(r, time.Second, func() {})
	require.Empty(t, r.msgs)
	release := make(chan struct{})
	defer close(release)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Within(r, 10*time.Millisecond, func() { <-release })
	}()
	<-done
	require.Equal(t, []string{"still running after 10ms"}, r.msgs)
}
