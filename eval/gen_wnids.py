#!/usr/bin/python3
"""Generate imagenet1k_wnids.txt: the 1000 ImageNet-1k WordNet ids in class order.

Run with Debian's WordNet 3.0 (apt-get install wordnet-base):

    /usr/bin/python3 eval/gen_wnids.py

ImageNet-1k's classes are WordNet 3.0 noun synsets, and its label texts
(deit/imagenet1k_labels.txt, Hugging Face's id2label) are those synsets' word
lists joined by ", ". A class's WordNet id is "n" + the synset's 8-digit offset
in WordNet's data.noun, and the class index order is the sorted order of the
ids. So each label text is looked up among the noun synsets of
/usr/share/wordnet/data.noun (one label, "jelly fish", is spelt "jellyfish"
there), and the ids must come out strictly increasing.

Most label texts name exactly one synset, or several of which only one fits
between its neighbours' ids (the bird "crane" and the machine "crane" are
told apart so). 41 texts, such as "abacus" (the calculator, or the slab on a
column), name several synsets that all fit; SENSES picks among them as the
published ILSVRC2012 synset list does, and every pick is checked to be one
of the WordNet candidates. The output is checked for 1000 distinct, strictly
increasing ids, first n01440764 (tench), last n15075141 (toilet tissue).
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = os.path.join(HERE, "..", "deit", "imagenet1k_labels.txt")
DATA_NOUN = "/usr/share/wordnet/data.noun"
OUT = os.path.join(HERE, "imagenet1k_wnids.txt")

# Class index -> WordNet id, where the label text names several synsets that
# all fit the sorted order.
SENSES = {
    102: "n01872401", 398: "n02666196", 411: "n02730930", 417: "n02782093",
    431: "n02804414", 438: "n02815834", 443: "n02834397", 456: "n02879718",
    471: "n02950826", 488: "n02999410", 501: "n03045698", 544: "n03259280",
    549: "n03291819", 586: "n03478589", 587: "n03481172", 594: "n03495258",
    597: "n03527444", 624: "n03661043", 643: "n03724870", 664: "n03782006",
    698: "n03877845", 718: "n03933933", 727: "n03956157", 733: "n03976657",
    745: "n04009552", 753: "n04040759", 758: "n04067472", 766: "n04111531",
    771: "n04125021", 780: "n04147183", 783: "n04153751", 792: "n04208210",
    813: "n04270147", 815: "n04275548", 816: "n04277352", 830: "n04336792",
    866: "n04465501", 902: "n04579432", 910: "n04597913", 982: "n10148035",
    987: "n12144580",
}


def synsets():
    """Word list ("w1, w2, ...") -> noun synset ids, from data.noun."""
    out = {}
    with open(DATA_NOUN, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):  # license header
                continue
            fields = line.split()
            n = int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(n)]
            out.setdefault(", ".join(words), []).append("n" + fields[0])
    return out


def main():
    with open(LABELS, encoding="utf-8") as f:
        labels = [l.rstrip("\n") for l in f]
    assert len(labels) == 1000, len(labels)
    syn = synsets()
    squeezed = {}
    for k, v in syn.items():
        squeezed.setdefault(k.replace(" ", ""), []).extend(v)
    cands = []
    for i, label in enumerate(labels):
        c = syn.get(label) or squeezed.get(label.replace(" ", ""), [])
        assert c, "class %d %r: no WordNet noun synset" % (i, label)
        cands.append(sorted(c))
    # Smallest fitting id going forward, largest going backward: where the
    # two agree, the order alone decides.
    lo, prev = [], ""
    for c in cands:
        prev = min(w for w in c if w > prev)
        lo.append(prev)
    hi, nxt = [None] * 1000, "o"
    for i in range(999, -1, -1):
        nxt = max(w for w in cands[i] if w < nxt)
        hi[i] = nxt
    ambiguous = {i for i in range(1000) if lo[i] != hi[i]}
    assert ambiguous == set(SENSES), sorted(ambiguous ^ set(SENSES))
    ids = []
    for i in range(1000):
        w = SENSES.get(i, lo[i])
        assert w in cands[i], (i, w, cands[i])
        ids.append(w)
    assert len(set(ids)) == 1000 and all(a < b for a, b in zip(ids, ids[1:]))
    assert ids[0] == "n01440764" and labels[0].startswith("tench")
    assert ids[999] == "n15075141" and labels[999].startswith("toilet tissue")
    with open(OUT, "w", encoding="ascii") as f:
        f.write("\n".join(ids) + "\n")


if __name__ == "__main__":
    main()
