package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/loader/imageio"
	"github.com/vkdeit/vkdeit/loader/imageio/imageiotest"
)

// stop cancels the decodes in flight instead of waiting for them: a
// request cut short by the drain timeout leaves its image behind, and a
// large progressive JPEG (this one: 16 passes over a million blocks, then
// 64 Mpixels of output) must not hold up the exit.
func TestPrepStopCancelsDecodes(t *testing.T) {
	p := newPrepPool(tinyModel(t), imageio.DecodeOptions{}, 1, slog.New(slog.DiscardHandler))
	p.start()
	var err error
	left := new(atomic.Int64)
	left.Store(1)
	done := make(chan struct{})
	// The send returns once the one worker holds the task; its request's
	// context never ends.
	p.tasks <- prepTask{ctx: context.Background(), name: "image 0", data: imageiotest.JPEGScanBomb(8192, 8192, 16),
		dst: make([]float32, p.per), err: &err, left: left, done: done}
	p.stop()
	<-done
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "image 0")
}
