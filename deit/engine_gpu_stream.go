package deit

import (
	"context"
	"fmt"

	"github.com/vkdeit/vkdeit/gpu"
)

// ForwardStream runs Forward over a stream of batches of B images: next
// returns the next batch's pixels ([B, C, H, W], as Forward takes them), or
// nil at the end of the stream; emit receives each batch's logits [B, L] in
// order. An error from next or emit ends the stream and is returned.
//
// On a device whose memory is not host-visible (a discrete GPU) the engine
// keeps two staging slots, so that while the device computes batch i the
// host copies batch i+1 in, reads batch i−1's logits and calls next and
// emit: over a long stream the wall clock per batch approaches the device
// time instead of device time plus the upload (38 MB of fp32 pixels at
// batch 256). On unified-memory devices, where the kernels read the host's
// writes directly, the batches run one after the other, exactly as Forward.
// Either way each batch's logits are bit for bit those of Forward.
func (e *GPUEngine) ForwardStream(ctx context.Context, B int, next func() ([]float32, error), emit func(logits []float32) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stream == nil {
		return errClosed
	}
	if err := e.checkBatch(B); err != nil {
		return err
	}
	if e.act.stageIn == nil {
		seq, err := e.sequence(e.seqs, B, false)
		if err != nil {
			return err
		}
		for {
			px, err := next()
			if err != nil || px == nil {
				return err
			}
			logits, err := e.run(ctx, seq, px, B)
			if err != nil {
				return err
			}
			if err := emit(logits); err != nil {
				return err
			}
		}
	}
	seqs, err := e.streamSequences(B)
	if err != nil {
		return err
	}
	slots := [2]staging{{e.act.stageIn, e.act.stageOu}, e.act.stage2}
	var pending [2]bool
	// Whatever ends the stream, no submission may outlive it: Forward
	// reuses slot 0's staging buffers.
	defer func() {
		for i, p := range pending {
			if p {
				_ = seqs[i].Wait(context.Background())
			}
		}
	}()
	finish := func(i int) error {
		if err := seqs[i].Wait(ctx); err != nil {
			return fmt.Errorf("deit: engine: %w", err)
		}
		pending[i] = false
		logits := make([]float32, B*e.cfg.NumLabels)
		if err := e.dev.Read(slots[i].out, 0, logits); err != nil {
			return fmt.Errorf("deit: engine: reading logits: %w", err)
		}
		return emit(logits)
	}
	px, err := next()
	slot := 0
	for ; err == nil && px != nil; slot = 1 - slot {
		if err := e.cfg.checkPixels(px, B); err != nil {
			return fmt.Errorf("deit: engine: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Slot's previous batch finished one iteration ago.
		if err := e.dev.Write(slots[slot].in, 0, px); err != nil {
			return fmt.Errorf("deit: engine: writing input: %w", err)
		}
		if err := seqs[slot].Submit(); err != nil {
			return fmt.Errorf("deit: engine: %w", err)
		}
		pending[slot] = true
		if prev := 1 - slot; pending[prev] {
			if err := finish(prev); err != nil {
				return err
			}
		}
		px, err = next()
	}
	if err != nil {
		return err
	}
	if last := 1 - slot; pending[last] {
		return finish(last)
	}
	return nil
}

// streamSequences returns ForwardStream's two recorded sequences for batch
// B, one per staging slot, allocating the second slot's buffers on first
// use.
func (e *GPUEngine) streamSequences(B int) ([2]*gpu.Sequence, error) {
	if pair, ok := e.stream[B]; ok {
		return pair, nil
	}
	if e.act.stage2.in == nil {
		c := e.cfg
		px := int64(e.maxBatch) * int64(c.Channels) * int64(c.ImageSize) * int64(c.ImageSize)
		in, err := e.dev.NewStagingBuffer(px * 4)
		if err != nil {
			return [2]*gpu.Sequence{}, fmt.Errorf("deit: engine: second staging slot: %w", err)
		}
		e.closers = append(e.closers, in.Free)
		out, err := e.dev.NewStagingBuffer(int64(e.maxBatch) * int64(c.NumLabels) * 4)
		if err != nil {
			return [2]*gpu.Sequence{}, fmt.Errorf("deit: engine: second staging slot: %w", err)
		}
		e.closers = append(e.closers, out.Free)
		e.act.stage2 = staging{in, out}
	}
	var pair [2]*gpu.Sequence
	for i, st := range []staging{{e.act.stageIn, e.act.stageOu}, e.act.stage2} {
		s, err := e.dev.NewSequence(false)
		if err != nil {
			return [2]*gpu.Sequence{}, fmt.Errorf("deit: engine: %w", err)
		}
		if _, err := e.recordStaged(s, B, false, st); err != nil {
			s.Close()
			if pair[0] != nil {
				pair[0].Close()
			}
			return [2]*gpu.Sequence{}, err
		}
		pair[i] = s
	}
	e.stream[B] = pair
	return pair, nil
}
