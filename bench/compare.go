package bench

import "math"

// Diff describes how far got is from want, element by element.
type Diff struct {
	// MaxAbs is the largest |got[i] − want[i]|, at index Worst.
	MaxAbs float64 `json:"max_abs"`
	Worst  int     `json:"worst_index"`
	// RelL2 is ‖got − want‖₂ / ‖want‖₂ (‖got − want‖₂ when want is all zeros).
	RelL2 float64 `json:"rel_l2"`
}

// Compare returns the difference between got and want, computed in float64.
// NaNs count as infinitely far apart. The slices must have the same length;
// otherwise the Diff is infinite with Worst = −1.
func Compare(got, want []float32) Diff {
	if len(got) != len(want) {
		return Diff{MaxAbs: math.Inf(1), RelL2: math.Inf(1), Worst: -1}
	}
	var d Diff
	var num, den float64
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		e := math.Abs(g - w)
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		if e > d.MaxAbs || (i == 0 && e >= d.MaxAbs) {
			d.MaxAbs, d.Worst = e, i
		}
		num += e * e
		den += w * w
	}
	if den > 0 {
		d.RelL2 = math.Sqrt(num / den)
	} else {
		d.RelL2 = math.Sqrt(num)
	}
	return d
}
