package deit

import (
	"context"
	"fmt"

	"github.com/vkdeit/vkdeit/gpu"
)

// Name implements Engine: the Vulkan device, and a warning in the name
// itself when it is a CPU driver such as lavapipe; below fp32 also the
// precision (Kernels, e.g. ", fp16+coopmat 16x16x16").
func (e *GPUEngine) Name() string {
	info := e.dev.Info()
	prec := ""
	if e.prec != gpu.PrecisionFP32 {
		prec = ", " + e.Kernels()
	}
	if info.Type == gpu.DeviceCPU {
		return fmt.Sprintf("vulkan %s (a CPU Vulkan driver: CPU speed)%s", info.Name, prec)
	}
	return fmt.Sprintf("vulkan %s (%s GPU)%s", info.Name, info.Type, prec)
}

// ForwardEmbeddings implements Engine: Forward, then the normalized
// head-token rows the head read, copied back from the device.
func (e *GPUEngine) ForwardEmbeddings(ctx context.Context, pixels []float32, B int) ([]float32, []float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seq, err := e.sequence(e.seqs, B, false)
	if err != nil {
		return nil, nil, err
	}
	logits, err := e.run(ctx, seq, pixels, B)
	if err != nil {
		return nil, nil, err
	}
	emb := make([]float32, B*e.cfg.HeadTokens()*e.cfg.Hidden)
	if err := e.dev.Read(e.act.tokN, 0, emb); err != nil {
		return nil, nil, fmt.Errorf("deit: engine: reading embeddings: %w", err)
	}
	return logits, emb, nil
}

// newCPUEngineFor builds the engine for EngineOptions.Device "cpu".
func newCPUEngineFor(m *Model, maxBatch, threads int) (Engine, error) {
	e, err := NewCPUEngine(m, maxBatch, CPUOptions{Threads: threads})
	if err != nil {
		return nil, err
	}
	return e, nil
}
