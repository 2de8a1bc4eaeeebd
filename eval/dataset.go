package eval

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vkdeit/vkdeit/internal/regfile"
	"github.com/vkdeit/vkdeit/loader/imageio"
)

// Layout is how a labeled image set is laid out on disk.
type Layout string

// The layouts Open recognizes.
const (
	// ImageFolder is one folder per class under the data folder, named by
	// the class (label text, index or WordNet id), images anywhere below it
	// (torchvision's and timm's ImageFolder).
	ImageFolder Layout = "imagefolder"
	// LabelsFile is a CSV/TSV file of "path,label" rows, paths relative
	// to the data folder.
	LabelsFile Layout = "labels-file"
	// ImageNetVal is ImageNet's validation set: flat
	// ILSVRC2012_val_*.JPEG files and a ground truth, Kaggle's
	// LOC_val_solution.csv or a list with one label per image in file
	// order (the devkit's ILSVRC2012_validation_ground_truth.txt).
	ImageNetVal Layout = "imagenet-val"
)

// The ground-truth files Open looks for beside ImageNet validation images,
// in the data folder and the folders above it.
const (
	KaggleSolution    = "LOC_val_solution.csv"
	DevkitGroundTruth = "ILSVRC2012_validation_ground_truth.txt"
)

// MaxLabelsBytes bounds a labels or ground-truth file: ImageNet's are 2 MB
// (Kaggle's CSV) and 200 kB (the devkit's list); 256 MiB allows millions of
// rows while keeping a wrong file (an image, a device) from being read whole.
const MaxLabelsBytes = 256 << 20

// groundTruthDepth is how many folders above the data folder Open looks for
// an ImageNet ground truth: Kaggle's images are in
// ILSVRC/Data/CLS-LOC/val/, four levels under LOC_val_solution.csv.
const groundTruthDepth = 4

// Sample is one labeled image.
type Sample struct {
	// Path is the image file.
	Path string
	// Label is the class as the data names it: the class folder's name, a
	// labels-file field, a WordNet id from a ground truth.
	Label string
}

// Dataset is a labeled image set.
type Dataset struct {
	// Root is the data folder.
	Root string
	// Layout is how it is laid out.
	Layout Layout
	// Source is the labels or ground-truth file ("" for ImageFolder).
	Source string
	// Samples are the images with their labels, in a fixed order: class
	// folders and files sorted by name, rows in file order, ImageNet
	// validation images by number.
	Samples []Sample
	// DevkitIDs says the labels are the ImageNet devkit's ILSVRC2012_IDs
	// (1…1000 in the devkit's own order, not the model's): they map to
	// model classes only through a class map.
	DevkitIDs bool
}

// Labels returns the dataset's distinct labels, sorted.
func (d *Dataset) Labels() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range d.Samples {
		if !seen[s.Label] {
			seen[s.Label] = true
			out = append(out, s.Label)
		}
	}
	slices.Sort(out)
	return out
}

// OpenOptions tune Open.
type OpenOptions struct {
	// Labels is a labels file: "path,label" rows (CSV, TSV, or space
	// separated), Kaggle's LOC_val_solution.csv, or a list with one label
	// per ILSVRC2012_val_*.JPEG in file order. "" detects the layout.
	Labels string
}

var imageNetValName = regexp.MustCompile(`^ILSVRC2012_val_(\d{8})\.JPEG$`)

// Open reads the labeled image set in the folder root. With
// opts.Labels, the labels file says which images and labels there are;
// otherwise root holding ILSVRC2012_val_*.JPEG files is ImageNet's
// validation layout (its ground truth found in root or up to four folders
// above), and root holding class folders an ImageFolder tree. Every image a
// labels file or ground truth names must exist, and every ImageNet image
// must have a ground truth: a dataset that is not what it seems stops here
// rather than scoring low.
func Open(root string, opts OpenOptions) (*Dataset, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("data %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data %s is %s, not a folder (a labels file goes with --labels, paths relative to the data folder)", root, regfile.Describe(st.Mode()))
	}
	if opts.Labels != "" {
		return openLabels(root, opts.Labels)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data %w", err)
	}
	var dirs, images []string
	val := 0
	for _, e := range entries {
		switch {
		case isDir(root, e):
			dirs = append(dirs, e.Name())
		case imageio.HasImageExt(e.Name()):
			images = append(images, e.Name())
			if imageNetValName.MatchString(e.Name()) {
				val++
			}
		}
	}
	if val > 0 {
		gt, err := findGroundTruth(root)
		if err != nil {
			return nil, err
		}
		return openLabels(root, gt)
	}
	if len(dirs) == 0 {
		if len(images) > 0 {
			return nil, fmt.Errorf("data %s: %d images but no class folders, labels file or ImageNet ground truth: "+
				"put each class's images in a folder named by the class, or give --labels FILE", root, len(images))
		}
		return nil, fmt.Errorf("data %s: no class folders and no images", root)
	}
	if len(images) > 0 {
		return nil, fmt.Errorf("data %s: %d images (%s) lie beside the class folders, outside any class: move them into their class's folder",
			root, len(images), listCapped(images, 3))
	}
	return openImageFolder(root, dirs)
}

// isDir reports whether e is a folder, following a symbolic link.
func isDir(root string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	st, err := os.Stat(filepath.Join(root, e.Name()))
	return err == nil && st.IsDir()
}

// openImageFolder lists the images under each class folder, recursively,
// in sorted order.
func openImageFolder(root string, dirs []string) (*Dataset, error) {
	d := &Dataset{Root: root, Layout: ImageFolder}
	for _, class := range dirs { // os.ReadDir sorts by name
		dir := filepath.Join(root, class)
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != dir && e.IsDir() && strings.HasPrefix(e.Name(), ".") {
				return fs.SkipDir
			}
			if !e.IsDir() && imageio.HasImageExt(p) {
				d.Samples = append(d.Samples, Sample{Path: p, Label: class})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data %w", err)
		}
	}
	if len(d.Samples) == 0 {
		return nil, fmt.Errorf("data %s: no image files (%s) in its %d class folders", root, strings.Join(imageio.Extensions(), " "), len(dirs))
	}
	return d, nil
}

// findGroundTruth looks for an ImageNet validation ground truth in root and
// the folders above it.
func findGroundTruth(root string) (string, error) {
	dir, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("data %w", err)
	}
	var tried []string
	for range groundTruthDepth + 1 {
		for _, name := range []string{KaggleSolution, DevkitGroundTruth} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		tried = append(tried, dir)
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("data %s holds ImageNet validation images (ILSVRC2012_val_*.JPEG) but no ground truth: "+
		"no %s or %s in %s; give one with --labels FILE", root, KaggleSolution, DevkitGroundTruth, strings.Join(tried, ", "))
}

// openLabels reads a labels file or ImageNet ground truth for root.
func openLabels(root, path string) (*Dataset, error) {
	data, err := regfile.ReadFile(path, MaxLabelsBytes)
	if err != nil {
		return nil, fmt.Errorf("labels %w", err)
	}
	d := &Dataset{Root: root, Source: path}
	switch kind := sniffLabels(data); kind {
	case kindKaggle:
		d.Layout = ImageNetVal
		truth, err := ParseImageNetSolution(data)
		if err != nil {
			return nil, fmt.Errorf("labels %s: %w", path, err)
		}
		err = d.imageNetSamples(func(name string, _ int) (string, bool) {
			l, ok := truth[strings.TrimSuffix(name, ".JPEG")]
			return l, ok
		})
		if err != nil {
			return nil, err
		}
	case kindList:
		d.Layout = ImageNetVal
		list, devkit, err := ParseGroundTruthList(data)
		if err != nil {
			return nil, fmt.Errorf("labels %s: %w", path, err)
		}
		d.DevkitIDs = devkit
		err = d.imageNetSamples(func(_ string, n int) (string, bool) {
			if n < 1 || n > len(list) {
				return "", false
			}
			return list[n-1], true
		})
		if err != nil {
			return nil, err
		}
	default:
		d.Layout = LabelsFile
		rows, err := ParseLabels(data)
		if err != nil {
			return nil, fmt.Errorf("labels %s: %w", path, err)
		}
		var missing []string
		for _, r := range rows {
			p := r.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(root, p)
			}
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, r.Path)
			}
			d.Samples = append(d.Samples, Sample{Path: p, Label: r.Label})
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("labels %s: %d of its %d images are missing under %s: %s",
				path, len(missing), len(rows), root, listCapped(missing, 5))
		}
	}
	return d, nil
}

// imageNetSamples lists the ILSVRC2012_val_*.JPEG files in d.Root, in
// number order, with the label that label gives each (from its name and
// number); an image without one is an error.
func (d *Dataset) imageNetSamples(label func(name string, n int) (string, bool)) error {
	entries, err := os.ReadDir(d.Root)
	if err != nil {
		return fmt.Errorf("data %w", err)
	}
	var unknown []string
	for _, e := range entries {
		m := imageNetValName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1]) // 8 digits: always a number
		l, ok := label(e.Name(), n)
		if !ok {
			unknown = append(unknown, e.Name())
			continue
		}
		d.Samples = append(d.Samples, Sample{Path: filepath.Join(d.Root, e.Name()), Label: l})
	}
	if len(unknown) > 0 {
		return fmt.Errorf("labels %s has no label for %d of the images in %s: %s", d.Source, len(unknown), d.Root, listCapped(unknown, 5))
	}
	if len(d.Samples) == 0 {
		return fmt.Errorf("data %s: no ILSVRC2012_val_*.JPEG images for the ImageNet ground truth %s", d.Root, d.Source)
	}
	return nil
}

// listCapped joins the first n items (quoted) and says how many more there are.
func listCapped(items []string, n int) string {
	q := make([]string, 0, min(n, len(items)))
	for _, s := range items[:min(n, len(items))] {
		q = append(q, fmt.Sprintf("%q", s))
	}
	s := strings.Join(q, ", ")
	if len(items) > n {
		s += fmt.Sprintf(" and %d more", len(items)-n)
	}
	return s
}
