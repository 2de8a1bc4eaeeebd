package eval

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestImageNetWNIDs(t *testing.T) {
	ids := ImageNetWNIDs()
	require.Len(t, ids, 1000)
	require.Equal(t, "n01440764", ids[0])   // tench
	require.Equal(t, "n02123045", ids[281]) // tabby cat
	require.Equal(t, "n15075141", ids[999]) // toilet tissue
	for i, id := range ids {
		require.True(t, IsWNID(id), id)
		if i > 0 {
			require.Less(t, ids[i-1], id, "class order is the sorted order of the ids")
		}
	}
	for _, s := range []string{"", "n0144076", "n014407640", "N01440764", "n0144076x", "01440764n"} {
		require.False(t, IsWNID(s), s)
	}
}

func TestParseLabels(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Row
		err      string
	}{
		{"csv", "a.png,cat\nb/c.jpg,dog\n", []Row{{"a.png", "cat"}, {"b/c.jpg", "dog"}}, ""},
		{"csv header, quotes, CRLF, BOM", "\ufeffpath,label\r\n\"x, y.png\",\"tabby, tabby cat\"\r\n", []Row{{"x, y.png", "tabby, tabby cat"}}, ""},
		{"tsv", "file\tclass\na.png\ttabby, tabby cat\n", []Row{{"a.png", "tabby, tabby cat"}}, ""},
		{"tsv with a stray quote", "a\"b.png\t3\n", []Row{{"a\"b.png", "3"}}, ""},
		{"spaces (Caffe val.txt)", "ILSVRC2012_val_00000001.JPEG 65\n# comment\n\nb.png   great white shark\n", []Row{{"ILSVRC2012_val_00000001.JPEG", "65"}, {"b.png", "great white shark"}}, ""},
		{"no trailing newline", "a.png,1", []Row{{"a.png", "1"}}, ""},
		{"empty", "\n\n", nil, "no rows"},
		{"header only", "path,label\n", nil, "no rows after the header"},
		{"one field", "a.png,cat\nb.png\n", nil, "line 2: 1 fields, want 2 (comma-separated)"},
		{"three fields", "a.png,cat,dog\n", nil, "line 1: 3 fields, want 2"},
		{"no label", "a.png\n", nil, "line 1: 1 fields, want 2 (separated by spaces)"},
		{"empty label", "a.png,\n", nil, `line 1: empty field in "a.png,"`},
		{"duplicate", "a.png,cat\nb.png,dog\na.png,dog\n", nil, `line 3: image "a.png" is already labeled on line 1`},
		{"bad quote", "\"a.png,cat\n", nil, "line 1: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLabels([]byte(tc.in))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseImageNetSolution(t *testing.T) {
	in := "ImageId,PredictionString\nILSVRC2012_val_00008726,n02119789 255 142 454 329 n02119789 44 21 322 295\r\nILSVRC2012_val_00000001,n01751748 1 2 3 4 \n"
	got, err := ParseImageNetSolution([]byte(in))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"ILSVRC2012_val_00008726": "n02119789", "ILSVRC2012_val_00000001": "n01751748"}, got)
	for _, tc := range []struct{ in, err string }{
		{"", "not a LOC_val_solution.csv"},
		{"ImageId,Label\nx,n01751748\n", "not a LOC_val_solution.csv"},
		{"ImageId,PredictionString\n", "no rows after the header"},
		{"ImageId,PredictionString\nx\n", "line 2: want ImageId,PredictionString"},
		{"ImageId,PredictionString\nx,dog 1 2 3 4\n", "line 2: the prediction string of x does not start with a WordNet id"},
		{"ImageId,PredictionString\nx,\n", "line 2: the prediction string of x"},
		{"ImageId,PredictionString\nx,n01751748\nx,n01751748\n", "line 3: image x is listed twice"},
	} {
		_, err := ParseImageNetSolution([]byte(tc.in))
		require.ErrorContains(t, err, tc.err, tc.in)
	}
}

func TestParseGroundTruthList(t *testing.T) {
	got, devkit, err := ParseGroundTruthList([]byte("490\n361\n171\n\n"))
	require.NoError(t, err)
	require.True(t, devkit)
	require.Equal(t, []string{"490", "361", "171"}, got)
	got, devkit, err = ParseGroundTruthList([]byte("n01751748\r\nn09193705\n"))
	require.NoError(t, err)
	require.False(t, devkit)
	require.Equal(t, []string{"n01751748", "n09193705"}, got)
	for _, tc := range []struct{ in, err string }{
		{"", "no labels"},
		{"1\n\n2\n", "line 2: blank line inside the list"},
		{"0\n", `line 1: "0" is neither a WordNet id`},
		{"1001\n", `line 1: "1001" is neither`},
		{"cat\n", `line 1: "cat" is neither`},
		{"1\nn01751748\n", `line 2: "n01751748" mixes devkit ILSVRC2012_IDs and WordNet ids`},
	} {
		_, _, err := ParseGroundTruthList([]byte(tc.in))
		require.ErrorContains(t, err, tc.err, tc.in)
	}
}

func TestParseClassMap(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{"two columns", "folder,label\nfish,tench\ncat,281\n", map[string]string{"fish": "tench", "cat": "281"}, ""},
		{"spaces", "n01440764 tench, Tinca tinca\n", map[string]string{"n01440764": "tench, Tinca tinca"}, ""},
		{"timm: one name per line", "n01443537\nn01484850\nn01491361\n", map[string]string{"n01443537": "0", "n01484850": "1", "n01491361": "2"}, ""},
		{"timm with a blank line", "a\n\nb\n", nil, "line 2: blank or comment line in a one-label-per-line class map"},
		{"duplicate", "a,1\na,2\n", nil, `line 2: "a" is mapped twice`},
		{"empty", "", nil, "no rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClassMap([]byte(tc.in))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSniffLabels(t *testing.T) {
	require.Equal(t, kindKaggle, sniffLabels([]byte("ImageId,PredictionString\r\n")))
	require.Equal(t, kindList, sniffLabels([]byte("1\n2\n")))
	require.Equal(t, kindRows, sniffLabels([]byte("a.png 1\n")))
	require.Equal(t, kindRows, sniffLabels(nil))
}

func TestPick(t *testing.T) {
	s := make([]Sample, 10)
	for i := range s {
		s[i].Label = string(rune('a' + i))
	}
	labels := func(ss []Sample) (out []string) {
		for _, x := range ss {
			out = append(out, x.Label)
		}
		return out
	}
	require.Equal(t, []string{"a", "c", "e", "g", "i"}, labels(Pick(s, 5)))
	require.Equal(t, []string{"a", "d", "g"}, labels(Pick(s, 3)))
	require.True(t, slices.Equal(labels(s), labels(Pick(s, 0))))
	require.Len(t, Pick(s, 11), 10)
}
