package eval

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// tree makes files under a temporary folder: names ending in an image
// extension get a real 2×2 PNG, others the given text.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		if text == "" {
			f, err := os.Create(p)
			require.NoError(t, err)
			require.NoError(t, png.Encode(f, image.NewRGBA(image.Rect(0, 0, 2, 2))))
			require.NoError(t, f.Close())
			continue
		}
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
	return root
}

// rel strips root from the samples' paths.
func rel(t *testing.T, root string, ss []Sample) []Sample {
	out := make([]Sample, len(ss))
	for i, s := range ss {
		r, err := filepath.Rel(root, s.Path)
		require.NoError(t, err)
		out[i] = Sample{filepath.ToSlash(r), s.Label}
	}
	return out
}

func TestOpenLayouts(t *testing.T) {
	kaggle := "ImageId,PredictionString\nILSVRC2012_val_00000001,n01751748 1 2 3 4\nILSVRC2012_val_00000002,n09193705 5 6 7 8\n"
	for _, tc := range []struct {
		name   string
		files  map[string]string
		sub    string // DATA under the tree
		labels string // --labels, under the tree
		layout Layout
		want   []Sample
		devkit bool
	}{
		{name: "image folder", files: map[string]string{"b/1.png": "", "a/x/2.png": "", "a/1.PNG": "", "a/.cache/3.png": "", "a/notes.txt": "hi", "c/readme": "x"},
			layout: ImageFolder, want: []Sample{{"a/1.PNG", "a"}, {"a/x/2.png", "a"}, {"b/1.png", "b"}}},
		{name: "labels file", files: map[string]string{"imgs/p 1.png": "", "imgs/q.png": "", "labels.csv": "path,label\n\"p 1.png\",stripes\nq.png,3\n"},
			sub: "imgs", labels: "labels.csv", layout: LabelsFile, want: []Sample{{"imgs/p 1.png", "stripes"}, {"imgs/q.png", "3"}}},
		{name: "imagenet val, Kaggle solution four folders up", files: map[string]string{
			"LOC_val_solution.csv": kaggle, "ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000002.JPEG": "", "ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000001.JPEG": ""},
			sub: "ILSVRC/Data/CLS-LOC/val", layout: ImageNetVal,
			want: []Sample{{"ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000001.JPEG", "n01751748"}, {"ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000002.JPEG", "n09193705"}}},
		{name: "imagenet val, devkit list", files: map[string]string{
			"val/ILSVRC2012_validation_ground_truth.txt": "490\n361\n171\n", "val/ILSVRC2012_val_00000003.JPEG": "", "val/ILSVRC2012_val_00000001.JPEG": ""},
			sub: "val", layout: ImageNetVal, devkit: true,
			want: []Sample{{"val/ILSVRC2012_val_00000001.JPEG", "490"}, {"val/ILSVRC2012_val_00000003.JPEG", "171"}}},
		{name: "imagenet val, WordNet id list given with --labels", files: map[string]string{
			"gt.txt": "n01751748\nn09193705\n", "val/ILSVRC2012_val_00000002.JPEG": ""},
			sub: "val", labels: "gt.txt", layout: ImageNetVal, want: []Sample{{"val/ILSVRC2012_val_00000002.JPEG", "n09193705"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			opts := OpenOptions{}
			if tc.labels != "" {
				opts.Labels = filepath.Join(root, tc.labels)
			}
			d, err := Open(filepath.Join(root, tc.sub), opts)
			require.NoError(t, err)
			require.Equal(t, tc.layout, d.Layout)
			require.Equal(t, tc.devkit, d.DevkitIDs)
			require.Equal(t, tc.want, rel(t, root, d.Samples))
		})
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		sub    string
		labels string
		err    string
	}{
		{name: "missing folder", sub: "nope", err: "data stat "},
		{name: "a file, not a folder", files: map[string]string{"a.png": ""}, sub: "a.png", err: "is a regular file, not a folder"},
		{name: "empty", err: "no class folders and no images"},
		{name: "flat images without labels", files: map[string]string{"a.png": "", "b.png": ""}, err: "2 images but no class folders, labels file or ImageNet ground truth"},
		{name: "images beside class folders", files: map[string]string{"cat/a.png": "", "stray.png": ""}, err: `1 images ("stray.png") lie beside the class folders`},
		{name: "class folders without images", files: map[string]string{"cat/a.txt": "x"}, err: "no image files (.jpg"},
		{name: "imagenet val without ground truth", files: map[string]string{"v/ILSVRC2012_val_00000001.JPEG": ""}, sub: "v",
			err: "holds ImageNet validation images (ILSVRC2012_val_*.JPEG) but no ground truth: no LOC_val_solution.csv or ILSVRC2012_validation_ground_truth.txt in "},
		{name: "imagenet image without a label", files: map[string]string{"LOC_val_solution.csv": "ImageId,PredictionString\nILSVRC2012_val_00000001,n01751748\n",
			"ILSVRC2012_val_00000001.JPEG": "", "ILSVRC2012_val_00000009.JPEG": ""}, err: `has no label for 1 of the images in `},
		{name: "devkit list too short", files: map[string]string{"ILSVRC2012_validation_ground_truth.txt": "1\n", "ILSVRC2012_val_00000002.JPEG": ""},
			err: `has no label for 1 of the images in`},
		{name: "labels file naming missing images", files: map[string]string{"a.png": "", "l.tsv": "a.png\tx\nb.png\ty\nc.png\tz\n"}, labels: "l.tsv",
			err: `2 of its 3 images are missing under `},
		{name: "bad labels file", files: map[string]string{"a.png": "", "l.csv": "a.png,x,y\n"}, labels: "l.csv", err: "l.csv: line 1: 3 fields, want 2"},
		{name: "labels file is a folder", files: map[string]string{"a.png": "", "l/x": "x"}, labels: "l", err: "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			opts := OpenOptions{}
			if tc.labels != "" {
				opts.Labels = filepath.Join(root, tc.labels)
			}
			_, err := Open(filepath.Join(root, tc.sub), opts)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestDatasetLabels(t *testing.T) {
	d := &Dataset{Samples: []Sample{{"1", "b"}, {"2", "a"}, {"3", "b"}}}
	require.Equal(t, []string{"a", "b"}, d.Labels())
}
