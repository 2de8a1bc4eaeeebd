package deit

import (
	"bytes"
	"strconv"
	"testing"
)

// fuzzShapes turns lines "name d0 d1 …" into a tensorShapes (dimensions
// taken modulo 1<<12, at most 8 of them).
func fuzzShapes(data []byte) tensorShapes {
	out := tensorShapes{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		shape := []int{}
		for _, d := range f[1:min(len(f), 9)] {
			n, err := strconv.Atoi(string(d))
			if err != nil {
				break
			}
			shape = append(shape, ((n%(1<<12))+(1<<12))%(1<<12))
		}
		out[string(f[0])] = shape
	}
	return out
}

// fuzzShapesText writes shapes back as fuzzShapes reads them.
func fuzzShapesText(s tensorShapes) []byte {
	var b bytes.Buffer
	for n, shape := range s {
		b.WriteString(n)
		for _, d := range shape {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(d))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// FuzzLayout fuzzes layout detection, the config derived from tensor shapes
// and the name and shape checks on checkpoint indexes given as text. What
// planWeights accepts must name exactly the tensors it reads, each with the
// shape it expects.
func FuzzLayout(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input it finds, for up to
	// a minute each, and that grows with the input. A whole one-layer timm
	// model, then fragments.
	cfg := Config{Hidden: 64, Layers: 1, Heads: 1, MLP: 8, ImageSize: 16, PatchSize: 8, Channels: 1, NumLabels: 2, Eps: 1e-6, Head: HeadDistilled}
	whole := tensorShapes{}
	for _, s := range layoutSpecs(layoutTimm, cfg, &Weights{}) {
		whole[s.name] = s.shape
	}
	f.Add(fuzzShapesText(whole))
	f.Add([]byte("cls_token 1 1 64\npos_embed 1 5 64\npatch_embed.proj.weight 64 3 8 8\nblocks.0.mlp.fc1.weight 256 64\nhead.weight 10 64\n"))
	f.Add([]byte("deit.embeddings.cls_token 1 1 64\nvit.embeddings.cls_token 1 1 64\n"))
	f.Add([]byte("deit.pooler.dense.weight 64 64\nclassifier.weight 10 64\ndeit.encoder.layer.99999.x 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		shapes := fuzzShapes(data)
		l, head, err := detectLayout(shapes)
		if err != nil {
			return
		}
		cfg, _, err := configFromTensors(l, head, shapes)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("configFromTensors gave an invalid config: %v", err)
		}
		if cfg.FLOPs() > 1e13 {
			return // a model this large would only slow the fuzzer down
		}
		p, err := planWeights(cfg, shapes, LoadOptions{})
		if err != nil {
			return
		}
		read := map[string]bool{}
		for _, s := range p.specs {
			if !sameShape(shapes[s.name], s.shape) {
				t.Fatalf("plan reads %s as %v, the index says %v", s.name, s.shape, shapes[s.name])
			}
			read[s.name] = true
		}
		for n := range shapes {
			if !read[n] && !knownExtra(n) {
				t.Fatalf("plan ignores %s", n)
			}
		}
	})
}
