package eval

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vkdeit/vkdeit/deit"
)

// Mapping says which model class each of a dataset's labels is.
type Mapping struct {
	// Class is data label → model class index.
	Class map[string]int
	// How is data label → the rule that matched it ("label text",
	// "synonym", "class index", "WordNet id", each after "class map: "
	// when it came through the class map).
	How map[string]string
}

// Subset returns the model classes the mapping reaches, sorted.
func (m *Mapping) Subset() []int {
	var out []int
	for _, c := range m.Class {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// MapOptions tune MapLabels.
type MapOptions struct {
	// ClassMap maps data labels to model labels (text, class index or
	// WordNet id); when set, every data label must be in it.
	ClassMap map[string]string
	// ClassMapName names the class map in errors ("--class-map FILE").
	ClassMapName string
	// DevkitIDs says the data labels are ImageNet devkit ILSVRC2012_IDs
	// (Dataset.DevkitIDs), which only a class map can map.
	DevkitIDs bool
}

// Failure is one data label that maps to no model class, with what was
// tried.
type Failure struct {
	Label string
	Tried []string
}

// MappingError lists every data label that maps to no model class: a
// mis-mapped label must stop the evaluation, never score as wrong answers.
type MappingError struct {
	Failures []Failure
	Labels   int // data labels in all
}

func (e *MappingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the data's %d labels map to no model class:", len(e.Failures), e.Labels)
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "\n  %q: %s", f.Label, strings.Join(f.Tried, "; "))
	}
	return b.String()
}

// MapLabels maps every data label to one of the model's classes, whose
// names modelLabels lists in class order. A label (or, with a class map, its
// target) is tried, in order, as:
//
//  1. a model label text, exactly ("tabby, tabby cat");
//  2. a synonym, ignoring case, "_" and repeated spaces: one of the
//     comma-separated names of exactly one label ("tabby_cat", "Tabby");
//  3. a class index, 0 … classes−1 ("281");
//  4. an ImageNet-1k WordNet id ("n02123045") when the model has
//     ImageNet-1k's labels.
//
// Labels that match none of these, or several classes at one step, are
// listed in a *MappingError with what was tried.
func MapLabels(dataLabels, modelLabels []string, opts MapOptions) (*Mapping, error) {
	r := newResolver(modelLabels)
	m := &Mapping{Class: map[string]int{}, How: map[string]string{}}
	var fails []Failure
	mapName := opts.ClassMapName
	if mapName == "" {
		mapName = "the class map"
	}
	for _, l := range dataLabels {
		target, prefix := l, ""
		if opts.ClassMap != nil {
			t, ok := opts.ClassMap[l]
			if !ok {
				fails = append(fails, Failure{l, []string{"not in " + mapName}})
				continue
			}
			target, prefix = t, "class map: "
		} else if opts.DevkitIDs {
			fails = append(fails, Failure{l, []string{"an ImageNet devkit ILSVRC2012_ID, numbered in the devkit's class order " +
				"(not the model's): map the IDs with --class-map (rows ID,WordNet id, from the devkit's meta.mat), or use LOC_val_solution.csv"}})
			continue
		}
		c, how, tried := r.resolve(target)
		if c < 0 {
			if prefix != "" {
				tried = append([]string{fmt.Sprintf("%s maps it to %q", mapName, target)}, tried...)
			}
			fails = append(fails, Failure{l, tried})
			continue
		}
		m.Class[l], m.How[l] = c, prefix+how
	}
	if len(fails) > 0 {
		return nil, &MappingError{Failures: fails, Labels: len(dataLabels)}
	}
	return m, nil
}

// resolver finds model classes by the rules of MapLabels.
type resolver struct {
	labels   []string
	exact    map[string][]int
	synonyms map[string][]int
	imageNet bool
	wnids    map[string]int
}

func newResolver(labels []string) *resolver {
	r := &resolver{labels: labels, exact: map[string][]int{}, synonyms: map[string][]int{}}
	for i, l := range labels {
		r.exact[l] = append(r.exact[l], i)
		names := []string{normalize(l)}
		for _, s := range strings.Split(l, ",") {
			if n := normalize(s); n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		for _, n := range names {
			r.synonyms[n] = append(r.synonyms[n], i)
		}
	}
	r.imageNet = slices.Equal(labels, deit.ImageNetLabels())
	if r.imageNet {
		r.wnids = map[string]int{}
		for i, w := range ImageNetWNIDs() {
			r.wnids[w] = i
		}
	}
	return r
}

// normalize lower-cases s, turns "_" into spaces and collapses spaces.
func normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(strings.ReplaceAll(s, "_", " "))), " ")
}

// resolve returns s's class, how it matched, and (when it did not, class
// −1) what was tried.
func (r *resolver) resolve(s string) (class int, how string, tried []string) {
	switch c := r.exact[s]; len(c) {
	case 1:
		return c[0], "label text", nil
	case 0:
		tried = append(tried, "no model label is this text")
	default:
		return -1, "", []string{"the label text of several classes " + r.classes(c) + ": use the class index or WordNet id"}
	}
	switch c := r.synonyms[normalize(s)]; len(c) {
	case 1:
		return c[0], "synonym", nil
	case 0:
		tried = append(tried, "no label or comma-separated synonym matches it (ignoring case and _)")
	default:
		return -1, "", append(tried, "a synonym of several classes "+r.classes(c)+": use the class index or WordNet id")
	}
	if n, err := strconv.Atoi(s); err == nil && s[0] != '-' && s[0] != '+' {
		if n < len(r.labels) {
			return n, "class index", nil
		}
		return -1, "", append(tried, fmt.Sprintf("class index %d is out of range (the model has %d classes)", n, len(r.labels)))
	}
	tried = append(tried, "not a class index")
	if IsWNID(s) {
		if !r.imageNet {
			return -1, "", append(tried, fmt.Sprintf("a WordNet id, but the model's %d labels are not ImageNet-1k's", len(r.labels)))
		}
		if c, ok := r.wnids[s]; ok {
			return c, "WordNet id", nil
		}
		return -1, "", append(tried, "a WordNet id that is not one of ImageNet-1k's 1000 classes")
	}
	return -1, "", append(tried, "not a WordNet id (n########)")
}

// classes names a few classes for messages: `3 ("crane"), 517 ("crane")`.
func (r *resolver) classes(c []int) string {
	parts := make([]string, 0, len(c))
	for _, i := range c {
		parts = append(parts, fmt.Sprintf("%d (%q)", i, r.labels[i]))
	}
	return strings.Join(parts, ", ")
}
