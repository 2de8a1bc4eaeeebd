package deit

import (
	"fmt"
	"slices"
	"strings"
)

// layout is a checkpoint naming scheme (docs/checkpoints.md).
type layout int

const (
	layoutHFDeiT layout = iota + 1 // deit.embeddings.*, deit.encoder.layer.N.*, cls_classifier / classifier
	layoutHFViT                    // vit.embeddings.*, vit.encoder.layer.N.*, classifier
	layoutTimm                     // cls_token, pos_embed, blocks.N.attn.qkv, head / head_dist
)

func (l layout) String() string {
	switch l {
	case layoutHFDeiT:
		return "Hugging Face DeiT (deit.*)"
	case layoutHFViT:
		return "Hugging Face ViT (vit.*)"
	case layoutTimm:
		return "timm/facebookresearch (blocks.N.*)"
	}
	return fmt.Sprintf("layout(%d)", int(l))
}

// headUnknown is detectLayout's answer when the names hold no head at all;
// the expected-tensor check then reports the missing head tensors.
const headUnknown HeadKind = -1

// detectLayout decides the naming scheme and the head from the tensor names
// alone:
//   - deit.*: cls_classifier + distillation_classifier → HeadDistilled,
//     classifier → HeadDistilledClassifier;
//   - vit.*: HeadClassifier (one special token);
//   - timm (blocks.N.*, pos_embed, cls_token, patch_embed.*): head_dist →
//     HeadDistilled, dist_token without head_dist → HeadDistilledClassifier,
//     neither → HeadClassifier.
func detectLayout(ts tensorShapes) (layout, HeadKind, error) {
	var deit, vit, timm int
	for name := range ts {
		switch {
		case strings.HasPrefix(name, "deit."):
			deit++
		case strings.HasPrefix(name, "vit."):
			vit++
		case strings.HasPrefix(name, "blocks."), strings.HasPrefix(name, "patch_embed."),
			name == "pos_embed", name == "cls_token":
			timm++
		}
	}
	has := func(n string) bool { _, ok := ts[n]; return ok }
	switch {
	case deit > 0 && vit > 0:
		return 0, 0, fmt.Errorf("tensor names mix the deit.* and vit.* layouts (%d and %d tensors)", deit, vit)
	case deit > 0:
		switch {
		case has("cls_classifier.weight") && has("distillation_classifier.weight"):
			return layoutHFDeiT, HeadDistilled, nil
		case has("classifier.weight"):
			return layoutHFDeiT, HeadDistilledClassifier, nil
		}
		return layoutHFDeiT, headUnknown, nil
	case vit > 0:
		return layoutHFViT, HeadClassifier, nil
	case timm > 0:
		switch {
		case has("head_dist.weight"):
			return layoutTimm, HeadDistilled, nil
		case has("dist_token"):
			return layoutTimm, HeadDistilledClassifier, nil
		}
		return layoutTimm, HeadClassifier, nil
	}
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	names = quoteNames(names)
	if len(names) > 6 {
		names = append(names[:6], "…")
	}
	return 0, 0, fmt.Errorf("%d tensor names match no known layout (want deit.* for Hugging Face DeiT, vit.* for Hugging Face ViT, "+
		"or cls_token/pos_embed/blocks.N.* for timm/facebookresearch); found %s", len(ts), strings.Join(names, ", "))
}
