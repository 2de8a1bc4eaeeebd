package eval

import (
	"strings"
	"testing"
)

// FuzzParseLabels feeds arbitrary text to the labels-file and class-map
// parsers: they must return rows or an error, never panic, and every row
// they return has a non-empty path and label.
func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{
		"a.png,cat\nb/c.jpg,dog\n",
		"\ufeffpath,label\r\n\"x, y.png\",\"tabby, tabby cat\"\r\n",
		"file\tclass\na.png\ttabby, tabby cat\n",
		"ILSVRC2012_val_00000001.JPEG 65\n# comment\n\nb.png   great white shark\n",
		"n01443537\nn01484850\n",
		"\"a.png,cat\n",
		"a.png,cat,dog\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseLabels(data)
		if err == nil {
			if len(rows) == 0 {
				t.Fatal("no rows and no error")
			}
			for _, r := range rows {
				if r.Path == "" || r.Label == "" {
					t.Fatalf("empty field in %+v", r)
				}
			}
		}
		m, err := ParseClassMap(data)
		if err == nil && len(m) == 0 {
			t.Fatal("empty class map and no error")
		}
		sniffLabels(data)
	})
}

// FuzzImageNetGroundTruth feeds arbitrary text to the ImageNet ground-truth
// parsers (Kaggle's LOC_val_solution.csv, the devkit's list): every label
// they return is a WordNet id or a devkit ID in 1…1000.
func FuzzImageNetGroundTruth(f *testing.F) {
	for _, s := range []string{
		"ImageId,PredictionString\nILSVRC2012_val_00008726,n02119789 255 142 454 329 n02119789 44 21 322 295\r\n",
		"ImageId,PredictionString\nx,dog 1 2 3 4\n",
		"490\n361\n171\n\n",
		"n01751748\r\nn09193705\n",
		"1\n\n2\n",
		"1\nn01751748\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := ParseImageNetSolution(data); err == nil {
			for id, w := range m {
				if id == "" || !IsWNID(w) {
					t.Fatalf("bad entry %q → %q", id, w)
				}
			}
		}
		labels, devkit, err := ParseGroundTruthList(data)
		if err != nil {
			return
		}
		for _, l := range labels {
			if devkit == IsWNID(l) || strings.TrimSpace(l) != l || l == "" {
				t.Fatalf("label %q (devkit %v)", l, devkit)
			}
		}
	})
}
