package eval

import (
	_ "embed"
	"strings"
)

// imagenet1kWNIDs holds the 1000 ImageNet-1k WordNet ids in class order
// (the sorted order of the ids), one per line; gen_wnids.py derives them
// from Debian's WordNet 3.0 and deit/imagenet1k_labels.txt.
//
//go:embed imagenet1k_wnids.txt
var imagenet1kWNIDs string

// ImageNetWNIDs returns the 1000 ImageNet-1k WordNet ids ("n01440764" for
// class 0, tench, … "n15075141" for class 999, toilet tissue) in class-index
// order.
func ImageNetWNIDs() []string {
	return strings.Split(strings.TrimSuffix(imagenet1kWNIDs, "\n"), "\n")
}

// IsWNID reports whether s is spelt as a WordNet noun id: "n" and 8 digits.
func IsWNID(s string) bool {
	if len(s) != 9 || s[0] != 'n' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
