package eval

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Row is one "path,label" row of a labels file.
type Row struct {
	Path, Label string
}

// labelsKind is what a labels file holds.
type labelsKind int

const (
	kindRows   labelsKind = iota // "path,label" rows
	kindKaggle                   // Kaggle's LOC_val_solution.csv
	kindList                     // one label per line, for ILSVRC2012_val_*.JPEG in order
)

// kaggleHeader is the first line of Kaggle's LOC_val_solution.csv.
const kaggleHeader = "ImageId,PredictionString"

// sniffLabels tells what a labels file holds from its text: Kaggle's
// header, or lines of one token each (a ground-truth list), else rows.
func sniffLabels(data []byte) labelsKind {
	lines := textLines(data)
	if len(lines) > 0 && strings.TrimSpace(lines[0].text) == kaggleHeader {
		return kindKaggle
	}
	for _, l := range lines {
		if strings.ContainsAny(strings.TrimSpace(l.text), ",\t ") {
			return kindRows
		}
	}
	if len(lines) == 0 {
		return kindRows
	}
	return kindList
}

// line is one line of a text file and its 1-based number.
type line struct {
	n    int
	text string
}

// textLines splits data into lines (a UTF-8 byte-order mark, "\r\n" endings
// and a missing last newline allowed), dropping blank lines and "#" comments.
func textLines(data []byte) []line {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var out []line
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out = append(out, line{i + 1, l})
	}
	return out
}

// pathHeaders are the first fields that make a first row a header.
var pathHeaders = []string{"path", "file", "filename", "file_name", "filepath", "image", "image_path", "img", "imageid", "image_id"}

// ParseLabels parses a labels file: rows of two fields, an image path and
// its label, separated by a tab (TSV), a comma (CSV, quoting allowed) or the
// first run of spaces (the label is the rest of the line, as in Caffe's
// val.txt and synset_words.txt). The first row decides: a tab makes TSV; a
// leading quote, or a comma before any space, CSV; else spaces (so a CSV
// path with spaces must be quoted). A
// first row whose path field is "path", "file", "filename", "image", … is a
// header. Blank lines and lines starting with "#" are skipped. Paths must
// be unique; errors give the line.
func ParseLabels(data []byte) ([]Row, error) {
	rows, err := parseRows(data, pathHeaders)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(rows))
	out := make([]Row, len(rows))
	for i, r := range rows {
		if prev, ok := seen[r.a]; ok {
			return nil, fmt.Errorf("line %d: image %q is already labeled on line %d", r.n, r.a, prev)
		}
		seen[r.a] = r.n
		out[i] = Row{Path: r.a, Label: r.b}
	}
	return out, nil
}

// pair is one two-field row and its line.
type pair struct {
	n    int
	a, b string
}

// parseRows reads two-field rows (see ParseLabels), skipping a first row
// whose first field is one of headers (in any case).
func parseRows(data []byte, headers []string) ([]pair, error) {
	lines := textLines(data)
	if len(lines) == 0 {
		return nil, errors.New("no rows")
	}
	sep := byte(' ')
	first := strings.TrimSpace(lines[0].text)
	comma, space := strings.IndexByte(first, ','), strings.IndexByte(first, ' ')
	switch {
	case strings.Contains(first, "\t"):
		sep = '\t'
	case strings.HasPrefix(first, `"`), comma >= 0 && (space < 0 || comma < space):
		sep = ','
	}
	out := make([]pair, 0, len(lines))
	for i, l := range lines {
		f, err := splitRow(l.text, sep)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.n, err)
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: %d fields, want 2 (%s)", l.n, len(f), sepName(sep))
		}
		if i == 0 && isHeader(f[0], headers) {
			continue
		}
		if f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("line %d: empty field in %q", l.n, l.text)
		}
		out = append(out, pair{l.n, f[0], f[1]})
	}
	if len(out) == 0 {
		return nil, errors.New("no rows after the header")
	}
	return out, nil
}

// splitRow splits one line at sep: CSV rules (quotes) for commas and tabs,
// the first run of spaces otherwise. Fields are trimmed of spaces.
func splitRow(text string, sep byte) ([]string, error) {
	if sep == ' ' {
		t := strings.TrimSpace(text)
		i := strings.IndexAny(t, " \t")
		if i < 0 {
			return []string{t}, nil
		}
		return []string{t[:i], strings.TrimSpace(t[i:])}, nil
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = rune(sep)
	r.FieldsPerRecord = -1
	r.LazyQuotes = sep == '\t' // TSV files rarely quote; a stray quote is text
	f, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("empty row")
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, err
	}
	if _, err := r.Read(); err != io.EOF {
		return nil, errors.New("a quoted field runs over several lines")
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f, nil
}

func sepName(sep byte) string {
	switch sep {
	case ',':
		return "comma-separated"
	case '\t':
		return "tab-separated"
	}
	return "separated by spaces"
}

func isHeader(field string, headers []string) bool {
	for _, h := range headers {
		if strings.EqualFold(field, h) {
			return true
		}
	}
	return false
}

// ParseImageNetSolution parses Kaggle's LOC_val_solution.csv (header
// "ImageId,PredictionString", rows "ILSVRC2012_val_00008726,n02119789 255 142
// 454 329 …") into image id → WordNet id (the first box's class: every box
// of an image has the same one).
func ParseImageNetSolution(data []byte) (map[string]string, error) {
	lines := textLines(data)
	if len(lines) == 0 || strings.TrimSpace(lines[0].text) != kaggleHeader {
		return nil, fmt.Errorf("not a LOC_val_solution.csv: the first line is not %q", kaggleHeader)
	}
	out := make(map[string]string, len(lines)-1)
	for _, l := range lines[1:] {
		id, pred, ok := strings.Cut(strings.TrimSpace(l.text), ",")
		if !ok || id == "" {
			return nil, fmt.Errorf("line %d: want ImageId,PredictionString, got %q", l.n, l.text)
		}
		f := strings.Fields(pred)
		if len(f) == 0 || !IsWNID(f[0]) {
			return nil, fmt.Errorf("line %d: the prediction string of %s does not start with a WordNet id (n########)", l.n, id)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("line %d: image %s is listed twice", l.n, id)
		}
		out[id] = f[0]
	}
	if len(out) == 0 {
		return nil, errors.New("no rows after the header")
	}
	return out, nil
}

// ParseGroundTruthList parses a list with one label per line for
// ILSVRC2012_val_00000001.JPEG, …_00000002.JPEG, … in order: WordNet ids, or
// the devkit's ILSVRC2012_IDs (ILSVRC2012_validation_ground_truth.txt:
// integers 1…1000 in the devkit's class order, which is not the models'),
// reported by devkit. Blank lines are allowed only at the end (one would
// shift every later label).
func ParseGroundTruthList(data []byte) (labels []string, devkit bool, err error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	raw := strings.Split(strings.TrimRight(string(data), " \t\r\n"), "\n")
	if len(raw) == 1 && strings.TrimSpace(raw[0]) == "" {
		return nil, false, errors.New("no labels")
	}
	labels = make([]string, len(raw))
	wnids, ids := 0, 0
	for i, l := range raw {
		t := strings.TrimSpace(l)
		switch n, err := strconv.Atoi(t); {
		case t == "":
			return nil, false, fmt.Errorf("line %d: blank line inside the list (every later image would get the label of the one before)", i+1)
		case IsWNID(t):
			wnids++
		case err == nil && n >= 1 && n <= 1000:
			ids++
		default:
			return nil, false, fmt.Errorf("line %d: %q is neither a WordNet id (n########) nor a devkit ILSVRC2012_ID (1…1000)", i+1, t)
		}
		if wnids > 0 && ids > 0 {
			return nil, false, fmt.Errorf("line %d: %q mixes devkit ILSVRC2012_IDs and WordNet ids in one list", i+1, t)
		}
		labels[i] = t
	}
	return labels, ids > 0, nil
}

// ParseClassMap parses a class map: rows "data label,model label" (the
// model label as its text, class index or ImageNet WordNet id), separated
// as in ParseLabels; or, when every line is a single token, timm's class
// map format, one data label per line whose line number (from 0) is its
// model class index. A data label may appear once.
func ParseClassMap(data []byte) (map[string]string, error) {
	lines := textLines(data)
	if len(lines) == 0 {
		return nil, errors.New("no rows")
	}
	single := true
	for _, l := range lines {
		if strings.ContainsAny(strings.TrimSpace(l.text), ",\t ") {
			single = false
			break
		}
	}
	var rows []pair
	if single {
		for i, l := range lines {
			if l.n != i+1 {
				return nil, fmt.Errorf("line %d: blank or comment line in a one-label-per-line class map, whose line numbers are the class indices", i+1)
			}
			rows = append(rows, pair{l.n, strings.TrimSpace(l.text), strconv.Itoa(i)})
		}
	} else {
		var err error
		if rows, err = parseRows(data, []string{"folder", "class", "label", "from", "source", "data", "name"}); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		if _, dup := out[r.a]; dup {
			return nil, fmt.Errorf("line %d: %q is mapped twice", r.n, r.a)
		}
		out[r.a] = r.b
	}
	return out, nil
}
