#!/usr/bin/python3
"""Draw the trained fixture's labeled image set procedurally.

Run with Debian's Python packages (python3-numpy, python3-pil; no pip):

    /usr/bin/python3 testdata/trained/gen_dataset.py [--split test|train] [--out DIR]

Eight visually distinct classes, each drawn with random colours, sizes,
positions, angles and pixel noise on canvases of random size (44-80 px a
side, not square), and saved as real image files, PNG or JPEG at random, one
folder per class (an ImageFolder tree):

    stripes       parallel bands at any angle
    checkerboard  two-colour squares, slightly rotated
    dots          a grid of round dots
    rings         concentric circles around a point
    triangle      one filled triangle
    square        one filled, rotated square
    cross         a plus sign
    gradient      a smooth ramp between two colours

The test split (--split test, the default: 32 images per class, written to
test/ beside this script) is committed; train.py draws the train split
(--split train, 640 per class) into a temporary folder. Each split has its
own seed, so the two never share an image, and rerunning reproduces the same
pixels (and, with the same libjpeg/zlib, the same bytes).
"""

import argparse
import math
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["stripes", "checkerboard", "dots", "rings", "triangle", "square", "cross", "gradient"]
SPLITS = {"test": (32, 19), "train": (640, 20240607)}  # images per class, seed


def colours(rng):
    """Foreground and background colours at least 120 apart (Euclidean RGB)."""
    while True:
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if np.linalg.norm(a.astype(float) - b) >= 120:
            return a.astype(np.float64), b.astype(np.float64)


def grid(h, w, rng, jitter=0.15):
    """Pixel-centre coordinates, origin near the centre, in pixels."""
    cy = h / 2 + rng.uniform(-jitter, jitter) * h
    cx = w / 2 + rng.uniform(-jitter, jitter) * w
    y, x = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    return y - cy, x - cx


def rotate(y, x, theta):
    c, s = math.cos(theta), math.sin(theta)
    return c * x + s * y, -s * x + c * y


def soft(d):
    """A one-pixel antialiased edge: 1 inside (d < 0), 0 outside."""
    return np.clip(0.5 - d, 0.0, 1.0)


def draw(cls, h, w, rng):
    """Coverage mask in [0, 1] of the foreground for one image of class cls."""
    m = min(h, w)
    y, x = grid(h, w, rng)
    theta = rng.uniform(0, math.pi)
    if cls == "stripes":
        u, _ = rotate(y, x, theta)
        period = rng.uniform(5, 10)
        return (np.sin(2 * math.pi * u / period) > 0).astype(np.float64)
    if cls == "checkerboard":
        u, v = rotate(y, x, rng.uniform(-0.3, 0.3))
        cell = rng.uniform(4, 8)
        return ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float64)
    if cls == "dots":
        u, v = rotate(y, x, rng.uniform(-0.4, 0.4))
        pitch = rng.uniform(8, 13)
        r = pitch * rng.uniform(0.22, 0.34)
        du = u - pitch * np.round(u / pitch)
        dv = v - pitch * np.round(v / pitch)
        return soft(np.hypot(du, dv) - r)
    if cls == "rings":
        period = rng.uniform(6, 10)
        return (np.sin(2 * math.pi * np.hypot(x, y) / period) > 0).astype(np.float64)
    if cls == "triangle":
        r = m * rng.uniform(0.28, 0.42)
        angles = theta + np.array([0, 2 * math.pi / 3, 4 * math.pi / 3])
        px, py = r * np.cos(angles), r * np.sin(angles)
        d = np.full((h, w), -np.inf)
        for i in range(3):  # signed distance to each edge, outward positive
            x0, y0, x1, y1 = px[i], py[i], px[(i + 1) % 3], py[(i + 1) % 3]
            nx, ny = y1 - y0, -(x1 - x0)
            n = math.hypot(nx, ny)
            e = ((x - x0) * nx + (y - y0) * ny) / n
            if (0 - x0) * nx + (0 - y0) * ny > 0:  # keep the centre inside
                e = -e
            d = np.maximum(d, e)
        return soft(d)
    if cls == "square":
        s = m * rng.uniform(0.2, 0.3)
        u, v = rotate(y, x, theta)
        return soft(np.maximum(np.abs(u), np.abs(v)) - s)
    if cls == "cross":
        u, v = rotate(y, x, rng.uniform(-0.35, 0.35))
        arm, half = m * rng.uniform(0.3, 0.42), m * rng.uniform(0.07, 0.12)
        bar1 = np.maximum(np.abs(u) - arm, np.abs(v) - half)
        bar2 = np.maximum(np.abs(v) - arm, np.abs(u) - half)
        return soft(np.minimum(bar1, bar2))
    if cls == "gradient":
        u, _ = rotate(y, x, 2 * theta)
        return np.clip(0.5 + u / (rng.uniform(0.8, 1.4) * m), 0.0, 1.0)
    raise ValueError(cls)


def image(cls, rng):
    h, w = int(rng.integers(44, 81)), int(rng.integers(44, 81))
    fg, bg = colours(rng)
    a = draw(cls, h, w, rng)[..., None]
    pix = a * fg + (1 - a) * bg
    pix += rng.normal(0, rng.uniform(2, 14), pix.shape)
    return Image.fromarray(np.clip(np.rint(pix), 0, 255).astype(np.uint8), "RGB")


def generate(split, out):
    """Writes the split's images under out/CLASS/ and returns their paths
    relative to out with their class indices, in class then file order."""
    per_class, seed = SPLITS[split]
    rng = np.random.default_rng(seed)
    items = []
    for ci, cls in enumerate(CLASSES):
        d = os.path.join(out, cls)
        os.makedirs(d, exist_ok=True)
        for i in range(per_class):
            img = image(cls, rng)
            if rng.uniform() < 0.5:
                name = "%s_%03d.png" % (cls, i)
                img.save(os.path.join(d, name), optimize=True)
            else:
                name = "%s_%03d.jpg" % (cls, i)
                img.save(os.path.join(d, name), quality=int(rng.integers(80, 96)))
            items.append((os.path.join(cls, name), ci))
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=sorted(SPLITS), default="test")
    ap.add_argument("--out", help="output folder (default: test/ beside this script for the test split)")
    args = ap.parse_args()
    out = args.out or (os.path.join(HERE, "test") if args.split == "test" else None)
    if out is None:
        ap.error("--out is needed for the train split")
    items = generate(args.split, out)
    print("%d images in %d classes under %s" % (len(items), len(CLASSES), out))


if __name__ == "__main__":
    main()
