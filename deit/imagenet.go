package deit

import (
	_ "embed"
	"strings"
)

// imagenet1k holds the ImageNet-1k class names, one per line in class
// order, as Hugging Face's id2label spells them ("tabby, tabby cat");
// scripts/gen_imagenet_labels.sh regenerates it.
//
//go:embed imagenet1k_labels.txt
var imagenet1k string

// ImageNetLabels returns the 1000 ImageNet-1k class names in class-index
// order: the labels of every facebook/deit-* checkpoint, used for timm and
// facebookresearch checkpoints that come without a config.json.
func ImageNetLabels() []string {
	return strings.Split(strings.TrimSuffix(imagenet1k, "\n"), "\n")
}
