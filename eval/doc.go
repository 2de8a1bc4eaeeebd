// Package eval measures a classifier's accuracy on labeled images, the way
// timm's validate.py does, and guards against the mistakes that cost
// points silently: a dataset laid out differently than assumed, and labels
// mapped to the wrong classes.
//
// Open reads a labeled image set in one of three layouts (an ImageFolder
// tree, a CSV/TSV labels file, ImageNet's validation folder with its
// ground truth); MapLabels maps its labels to the model's classes by label
// text, synonym, class index or ImageNet WordNet id (ImageNetWNIDs),
// directly or through a class map, and refuses to go on while any label
// maps to nothing; Evaluate runs the images through a classify.Classifier
// and scores them (top-1 and top-5, per class, confusion matrix), within a
// subset of the classes when asked; NewLine makes timm's results line.
package eval
