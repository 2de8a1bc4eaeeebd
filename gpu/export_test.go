package gpu

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
