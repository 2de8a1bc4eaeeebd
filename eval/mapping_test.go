package eval

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkdeit/vkdeit/deit"
)

func TestMapLabels(t *testing.T) {
	imagenet := deit.ImageNetLabels()
	shapes := []string{"stripes", "checkerboard", "Dots, spots", "rings"}
	for _, tc := range []struct {
		name   string
		model  []string
		data   []string
		opts   MapOptions
		class  map[string]int
		how    map[string]string
		errMsg []string // substrings of the MappingError
	}{
		{name: "label text", model: shapes, data: []string{"stripes", "Dots, spots"},
			class: map[string]int{"stripes": 0, "Dots, spots": 2}, how: map[string]string{"stripes": "label text", "Dots, spots": "label text"}},
		{name: "synonym, case and underscores", model: imagenet, data: []string{"tabby_cat", "Great_White_Shark", "goldfish"},
			class: map[string]int{"tabby_cat": 281, "Great_White_Shark": 2, "goldfish": 1}, how: map[string]string{"tabby_cat": "synonym", "Great_White_Shark": "synonym", "goldfish": "synonym"}},
		{name: "class index", model: shapes, data: []string{"0", "3"},
			class: map[string]int{"0": 0, "3": 3}, how: map[string]string{"0": "class index", "3": "class index"}},
		{name: "exact text beats a shared synonym", model: imagenet, data: []string{"maillot"},
			class: map[string]int{"maillot": 638}, how: map[string]string{"maillot": "label text"}},
		{name: "class index out of range", model: shapes, data: []string{"0", "3", "007"},
			errMsg: []string{`"007": no model label is this text; no label or comma-separated synonym matches it (ignoring case and _); class index 7 is out of range`}},
		{name: "WordNet id", model: imagenet, data: []string{"n01440764", "n15075141", "n02123045"},
			class: map[string]int{"n01440764": 0, "n15075141": 999, "n02123045": 281}},
		{name: "class map", model: imagenet, data: []string{"fish", "cat", "paper"},
			opts:  MapOptions{ClassMap: map[string]string{"fish": "n01440764", "cat": "tabby, tabby cat", "paper": "999"}},
			class: map[string]int{"fish": 0, "cat": 281, "paper": 999},
			how:   map[string]string{"fish": "class map: WordNet id", "cat": "class map: label text", "paper": "class map: class index"}},
		{name: "unknown labels are all listed with what was tried", model: shapes, data: []string{"stripes", "triangle", "9", "n01440764"},
			errMsg: []string{"3 of the data's 4 labels map to no model class",
				`"triangle": no model label is this text; no label or comma-separated synonym matches it (ignoring case and _); not a class index; not a WordNet id (n########)`,
				`"9": no model label is this text; no label or comma-separated synonym matches it (ignoring case and _); class index 9 is out of range (the model has 4 classes)`,
				`"n01440764": no model label is this text; no label or comma-separated synonym matches it (ignoring case and _); not a class index; a WordNet id, but the model's 4 labels are not ImageNet-1k's`}},
		{name: "ambiguous text", model: imagenet, data: []string{"crane"},
			errMsg: []string{`1 of the data's 1 labels`, `"crane": the label text of several classes 134 ("crane"), 517 ("crane"): use the class index or WordNet id`}},
		{name: "ambiguous synonym", model: []string{"a, x", "b, X"}, data: []string{"x"},
			errMsg: []string{`"x": no model label is this text; a synonym of several classes 0 ("a, x"), 1 ("b, X")`}},
		{name: "WordNet id outside ImageNet-1k", model: imagenet, data: []string{"n00000001"},
			errMsg: []string{`"n00000001": no model label is this text; no label or comma-separated synonym matches it (ignoring case and _); not a class index; a WordNet id that is not one of ImageNet-1k's 1000 classes`}},
		{name: "label missing from the class map", model: shapes, data: []string{"a", "b"},
			opts:   MapOptions{ClassMap: map[string]string{"a": "rings"}, ClassMapName: "--class-map m.txt"},
			errMsg: []string{`"b": not in --class-map m.txt`}},
		{name: "class map to nothing", model: shapes, data: []string{"a"},
			opts:   MapOptions{ClassMap: map[string]string{"a": "ring"}, ClassMapName: "--class-map m.txt"},
			errMsg: []string{`"a": --class-map m.txt maps it to "ring"; no model label is this text`}},
		{name: "devkit ids need a class map", model: imagenet, data: []string{"1", "490"}, opts: MapOptions{DevkitIDs: true},
			errMsg: []string{`"1": an ImageNet devkit ILSVRC2012_ID, numbered in the devkit's class order (not the model's)`, `"490": an ImageNet devkit`}},
		{name: "devkit ids through a class map", model: imagenet, data: []string{"1", "490"},
			opts:  MapOptions{DevkitIDs: true, ClassMap: map[string]string{"1": "n02119789", "490": "n01751748"}},
			class: map[string]int{"1": 278, "490": 65}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := MapLabels(tc.data, tc.model, tc.opts)
			if tc.errMsg != nil {
				var me *MappingError
				require.True(t, errors.As(err, &me), "%v", err)
				for _, s := range tc.errMsg {
					require.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.class, m.Class)
			if tc.how != nil {
				require.Equal(t, tc.how, m.How)
			}
		})
	}
}

func TestMappingSubset(t *testing.T) {
	m := &Mapping{Class: map[string]int{"a": 7, "b": 2, "c": 7}}
	require.Equal(t, []int{2, 7}, m.Subset())
}
