package main

import (
	"fmt"
	"math"
	"sort"
)

// prediction is one of an image's top-k classes.
type prediction struct {
	Rank        int     `json:"rank"`
	Index       int     `json:"index"`
	Label       string  `json:"label"`
	Probability float64 `json:"probability"`
	Logit       float32 `json:"logit"`
}

// softmax returns exp(l_i − max) / Σ exp(l_j − max), computed in float64.
func softmax(logits []float32) []float64 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	p := make([]float64, len(logits))
	var sum float64
	for i, l := range logits {
		p[i] = math.Exp(float64(l) - m)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// topK returns the indices of the k largest logits, largest first; ties go to
// the lower index. k is clamped to len(logits).
func topK(logits []float32, k int) []int {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	return idx[:min(k, len(idx))]
}

// predict returns the top-k predictions of one image's logits.
func predict(logits []float32, k int, labels []string) []prediction {
	probs := softmax(logits)
	var out []prediction
	for r, i := range topK(logits, k) {
		out = append(out, prediction{Rank: r + 1, Index: i, Label: labelOf(labels, i), Probability: probs[i], Logit: logits[i]})
	}
	return out
}

// labelOf returns the class name, or HF's placeholder "LABEL_i" when the
// config has none.
func labelOf(labels []string, i int) string {
	if i < len(labels) && labels[i] != "" {
		return labels[i]
	}
	return fmt.Sprintf("LABEL_%d", i)
}
