package eval

import (
	"fmt"
	"math"
	"slices"

	"github.com/vkdeit/vkdeit/classify"
)

// TopK is the k of the top-k accuracy reported beside top-1 (clamped to the
// number of classes scored).
const TopK = 5

// Scorer accumulates top-1 / top-k accuracy, per-class counts and the
// confusion matrix over images. Its zero value is not usable: use NewScorer.
type Scorer struct {
	labels    []string
	subset    []int // scored classes, sorted; nil means all
	k         int
	n, c1, ck int
	perClass  map[int]*ClassResult
	confusion map[[2]int]int // (true, predicted) → images; sparse, so 21k-class models cost nothing
}

// NewScorer returns a scorer for a model whose classes labels names. With a
// subset (sorted class indices), predictions are made among those classes
// only, as for ImageNet-A/R against a 1000-class model.
func NewScorer(labels []string, subset []int) *Scorer {
	k := TopK
	if subset != nil {
		k = min(k, len(subset))
	}
	return &Scorer{labels: labels, subset: subset, k: min(k, len(labels)), perClass: map[int]*ClassResult{}, confusion: map[[2]int]int{}}
}

// K is the k of the top-k accuracy.
func (s *Scorer) K() int { return s.k }

// Add scores one image of class label with the model's logits (all the
// model's classes) and returns its top-k ranking, among the subset when
// there is one. Non-finite logits are an error and score nothing.
func (s *Scorer) Add(label int, logits []float32) ([]classify.Prediction, error) {
	if len(logits) != len(s.labels) {
		return nil, fmt.Errorf("eval: %d logits for a model of %d classes", len(logits), len(s.labels))
	}
	if label < 0 || label >= len(s.labels) {
		return nil, fmt.Errorf("eval: class %d out of range", label)
	}
	top, err := s.rank(logits)
	if err != nil {
		return nil, err
	}
	cr := s.perClass[label]
	if cr == nil {
		cr = &ClassResult{Index: label, Label: s.labels[label]}
		s.perClass[label] = cr
	}
	s.n++
	cr.Images++
	if top[0].Index == label {
		s.c1++
		cr.Top1Correct++
	}
	for _, p := range top {
		if p.Index == label {
			s.ck++
			cr.TopKCorrect++
			break
		}
	}
	s.confusion[[2]int{label, top[0].Index}]++
	return top, nil
}

// rank is classify.TopK over all classes or over the subset's logits.
func (s *Scorer) rank(logits []float32) ([]classify.Prediction, error) {
	if s.subset == nil {
		return classify.TopK(logits, s.k, s.labels)
	}
	sub := make([]float32, len(s.subset))
	names := make([]string, len(s.subset))
	for i, c := range s.subset {
		sub[i], names[i] = logits[c], s.labels[c]
	}
	top, err := classify.TopK(sub, s.k, names)
	for i := range top {
		top[i].Index = s.subset[top[i].Index]
	}
	return top, err
}

// ClassResult is one class's share of the results.
type ClassResult struct {
	Index       int    `json:"index"`
	Label       string `json:"label"`
	Images      int    `json:"images"`
	Top1Correct int    `json:"top1_correct"`
	TopKCorrect int    `json:"top5_correct"`
}

// Top1 is the class's top-1 accuracy in percent.
func (c ClassResult) Top1() float64 { return percent(c.Top1Correct, c.Images) }

// Results are the scores of an evaluation.
type Results struct {
	// Images is how many images were scored; Top1Correct and TopKCorrect
	// how many had their class first, or among the first K.
	Images, Top1Correct, TopKCorrect, K int
	// Classes are the scored images' classes, by index.
	Classes []ClassResult
	// Subset is the classes predictions were made among (nil: all).
	Subset []int
	// Confusion is (true class, predicted class) → images.
	Confusion map[[2]int]int
}

// Results returns what has been scored so far.
func (s *Scorer) Results() *Results {
	r := &Results{Images: s.n, Top1Correct: s.c1, TopKCorrect: s.ck, K: s.k, Subset: s.subset, Confusion: map[[2]int]int{}}
	for _, c := range s.perClass {
		r.Classes = append(r.Classes, *c)
	}
	slices.SortFunc(r.Classes, func(a, b ClassResult) int { return a.Index - b.Index })
	for k, v := range s.confusion {
		r.Confusion[k] = v
	}
	return r
}

// Top1 and TopK are the accuracies in percent.
func (r *Results) Top1() float64 { return percent(r.Top1Correct, r.Images) }

// TopK is the top-K accuracy in percent.
func (r *Results) TopK() float64 { return percent(r.TopKCorrect, r.Images) }

// StdErr is the standard error of an accuracy of p percent over the
// results' images, in percentage points: √(p(100−p)/n), the binomial
// sampling error that says how far a rerun on other images of the same
// distribution may land.
func (r *Results) StdErr(p float64) float64 {
	if r.Images == 0 {
		return 0
	}
	return math.Sqrt(p * (100 - p) / float64(r.Images))
}

func percent(a, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(a) / float64(n)
}
