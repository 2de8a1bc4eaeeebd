package gpu

import "context"

// Staging makes opts open the device as if it were a discrete GPU: buffers
// unmapped, Write and Read through staging copies.
func Staging(opts Options) Options {
	opts.ForceStaging = true
	return opts
}

// DescriptorPools reports how many descriptor pools s has created.
func (s *Sequence) DescriptorPools() int { return len(s.descPools) }

// StorageAlign is the device's binding offset alignment.
func (d *Device) StorageAlign() int64 { return d.storageAlign }

// Blocks reports how many memory blocks d holds.
func (d *Device) Blocks() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.blocks)
}

// TuneCandidatesForTest measures exactly cands (cands[0] standing for the
// heuristic) on shape s, as Tune does after enumerating and pruning.
func TuneCandidatesForTest(ctx context.Context, d *Device, s Shape, cands []KernelConfig, opts TuneOptions) (ShapeResult, error) {
	o, err := NewOps(d)
	if err != nil {
		return ShapeResult{}, err
	}
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	return o.tuneShape(ctx, s, cands, opts, func(Candidate) {})
}
