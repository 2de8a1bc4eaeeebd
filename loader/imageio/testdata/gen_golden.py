#!/usr/bin/python3
"""Generate the golden preprocessing data under testdata/images/.

Run from the repository root with Debian's Python (Pillow 9.4.0, numpy):

    /usr/bin/python3 loader/imageio/testdata/gen_golden.py

It writes small input images and what Pillow + Hugging Face's slow (PIL)
DeiTImageProcessor make of them, re-implemented here without transformers
(docs/preprocessing.md): load_image (exif_transpose, convert("RGB")), PIL resize,
HF center_crop (floor offsets, zero padding with ceil offsets), rescale in
float64 cast to float32, normalize in float32, CHW. manifest.json lists every
case; uint8 RGB arrays are stored as PNG (golden_*.png, case*_decoded.png,
case*_resized.png), float32 arrays as raw little-endian bytes, gzip-compressed
(*.bin.gz).
"""
import gzip
import hashlib
import io
import json
import math
import os
import struct
import subprocess
import tempfile
import zlib

import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])


def smooth(w, h, c, seed, noise=6):
    """A smooth colour field with mild noise and a few hard edges (compresses well,
    still exercises every filter tap)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(c):
        f = 127 + 100 * np.sin(x / (7 + 3 * k) + y / (11 + k)) * np.cos(y / (13 + 2 * k))
        f += np.where((x // 17 + y // 23 + k) % 3 == 0, 60, -20)
        chans.append(f)
    a = np.stack(chans, -1) + rng.integers(-noise, noise + 1, (h, w, c))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def formula(w, h):
    """An integer pattern the Go test regenerates (formulaImage in resize_test.go),
    so that large inputs need not be committed."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    chans = [((x + 2 * y + 85 * c) // 2 + ((x // 32 + y // 32) % 2) * 60 + (x * y) % 7) & 255 for c in range(3)]
    return np.stack(chans, -1).astype(np.uint8)


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def raw_png(w, h, colour_type, depth, arr):
    """Write a PNG by hand (Pillow cannot save 16-bit RGB)."""
    rows = arr.reshape(h, -1)
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def load_image(path):
    """transformers.image_utils.load_image for a local file."""
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


def center_crop(image, crop_h, crop_w):
    """transformers.image_transforms.center_crop on an HWC array."""
    orig_h, orig_w = image.shape[:2]
    top = (orig_h - crop_h) // 2
    bottom = top + crop_h
    left = (orig_w - crop_w) // 2
    right = left + crop_w
    if top >= 0 and bottom <= orig_h and left >= 0 and right <= orig_w:
        return image[top:bottom, left:right]
    new_h, new_w = max(crop_h, orig_h), max(crop_w, orig_w)
    new = np.zeros((new_h, new_w) + image.shape[2:], dtype=image.dtype)
    top_pad = math.ceil((new_h - orig_h) / 2)
    left_pad = math.ceil((new_w - orig_w) / 2)
    new[top_pad:top_pad + orig_h, left_pad:left_pad + orig_w] = image
    top += top_pad
    bottom += top_pad
    left += left_pad
    right += left_pad
    return new[max(0, top):min(new_h, bottom), max(0, left):min(new_w, right)]


def resize_size(cfg, w, h):
    """transformers get_resize_output_image_size → (width, height)."""
    if "shortest_edge" in cfg["size"]:
        s = cfg["size"]["shortest_edge"]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = s, int(s * long / short)
        return (new_short, new_long) if w <= h else (new_long, new_short)
    return cfg["size"]["width"], cfg["size"]["height"]


def preprocess(rgb, cfg):
    """Slow DeiTImageProcessor.preprocess on one RGB PIL image. Returns the uint8
    HWC array after resizing and the float32 CHW result."""
    arr = np.array(rgb)
    if cfg.get("do_resize", True):
        w, h = resize_size(cfg, rgb.width, rgb.height)
        arr = np.array(Image.fromarray(arr).resize((w, h), resample=cfg["resample"], reducing_gap=None))
    resized = arr
    if cfg.get("do_center_crop", False):
        arr = center_crop(arr, cfg["crop_size"]["height"], cfg["crop_size"]["width"])
    if cfg.get("do_rescale", True):
        arr = (arr.astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    if cfg.get("do_normalize", True):
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32)
        mean = np.array(cfg["image_mean"], dtype=arr.dtype)
        std = np.array(cfg["image_std"], dtype=arr.dtype)
        arr = (arr - mean) / std
    return resized, np.ascontiguousarray(arr.transpose(2, 0, 1)).astype(np.float32)


def save_png(name, arr):
    """uint8 HWC RGB goldens are stored as PNG: lossless and small for smooth images."""
    Image.fromarray(arr, "RGB").save(os.path.join(OUT, name), optimize=True)
    return name


def save_bin(name, arr):
    with gzip.GzipFile(os.path.join(OUT, name), "wb", mtime=0) as f:
        f.write(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    return name


def pil_bytes(im, **kw):
    """im saved as JPEG by Pillow."""
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def jpeg_segments(data):
    """(marker, start, end) of each marker segment before the first scan."""
    p = 2
    while p + 4 <= len(data) and data[p] == 0xFF:
        marker, n = data[p + 1], struct.unpack(">H", data[p + 2:p + 4])[0]
        yield marker, p, p + 2 + n
        if marker == 0xDA:
            return
        p += 2 + n


def drop_segment(data, marker):
    """data without its marker segments of the given type (0xEE: Adobe APP14)."""
    for m, start, end in jpeg_segments(data):
        if m == marker:
            return drop_segment(data[:start] + data[end:], marker)
    return data


def corrupt_scan(data):
    """Flip a few bytes in the middle of the entropy-coded data without making
    or breaking a marker: libjpeg warns and decodes on, and so does Pillow."""
    sos = [end for m, _, end in jpeg_segments(data) if m == 0xDA][0]
    b = bytearray(data)
    for p in range(sos + (len(data) - sos) // 3, len(data) - 2, 97):
        if 0xFF not in (b[p - 1], b[p], b[p] ^ 0x5A):
            b[p] ^= 0x5A
    return bytes(b)


def build_mkjpeg():
    """Compile mkjpeg.c next to this script into a temporary directory."""
    exe = os.path.join(tempfile.mkdtemp(), "mkjpeg")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mkjpeg.c")
    subprocess.run(["gcc", "-O2", "-o", exe, src, "-ljpeg"], check=True)
    return exe


def run_mkjpeg(exe, variant, arr):
    h, w = arr.shape[:2]
    return subprocess.run([exe, variant, str(w), str(h)], input=arr.tobytes(), stdout=subprocess.PIPE,
                          check=True).stdout


def pillow_rgb(data):
    """load_image on encoded bytes, as a uint8 array, or None where Pillow raises."""
    try:
        im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        return np.array(im.convert("RGB"))
    except Exception:
        return None


def deit_cfg(**kw):
    cfg = {"do_resize": True, "size": {"height": 256, "width": 256}, "resample": 3,
           "do_center_crop": True, "crop_size": {"height": 224, "width": 224},
           "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
           "image_mean": IMAGENET[0], "image_std": IMAGENET[1]}
    cfg.update(kw)
    return cfg


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"pillow": Image.__version__, "preprocess": [], "decode": [], "orientation": []}

    # --- inputs -------------------------------------------------------------
    inputs = {}

    def save(name, im, **kw):
        im.save(os.path.join(OUT, name), **kw)
        inputs[name] = True

    save("rgb_257x300.png", Image.fromarray(smooth(257, 300, 3, 1, noise=0)), optimize=True)
    save("gray_31x517.png", Image.fromarray(smooth(31, 517, 1, 2)[:, :, 0], "L"), optimize=True)
    save("rgba_100x80.png", Image.fromarray(smooth(100, 80, 4, 3, noise=12), "RGBA"), optimize=True)
    pal = Image.fromarray(smooth(83, 61, 3, 4)).quantize(colors=50, method=Image.Quantize.MEDIANCUT)
    save("palette_83x61.png", pal, transparency=7, optimize=True)
    with open(os.path.join(OUT, "rgb16_64x50.png"), "wb") as f:
        a16 = smooth(64, 50, 3, 5).astype(">u2") * 257 + np.random.default_rng(5).integers(0, 256, (50, 64, 3)).astype(">u2")
        f.write(raw_png(64, 50, 2, 16, a16.astype(">u2")))
    with open(os.path.join(OUT, "gray16_40x30.png"), "wb") as f:
        g16 = (smooth(40, 30, 1, 6)[:, :, 0].astype(np.int64) * 4).astype(">u2")  # 0..1020: PIL clips
        f.write(raw_png(40, 30, 0, 16, g16))
    with open(os.path.join(OUT, "la16_33x21.png"), "wb") as f:
        la = smooth(33, 21, 2, 7).astype(">u2") * 257
        f.write(raw_png(33, 21, 4, 16, la))
    save("la_45x33.png", Image.fromarray(smooth(45, 33, 2, 8), "LA"), optimize=True)
    save("gray4_37x29.png", Image.fromarray(smooth(37, 29, 1, 9)[:, :, 0], "L").quantize(16).convert("L"), bits=4)

    # --- preprocessing cases ----------------------------------------------
    cases = [
        ("rgb_257x300.png", deit_cfg(), False),
        ("formula:640x480", deit_cfg(), False),
        ("gray_31x517.png", deit_cfg(size={"height": 64, "width": 64}, crop_size={"height": 56, "width": 56}), True),
        ("rgba_100x80.png", {"image_processor_type": "ViTImageProcessor", "do_center_crop": False,
                             "size": {"height": 120, "width": 160}, "resample": 2,
                             "image_mean": HALF[0], "image_std": HALF[1]}, True),
        ("palette_83x61.png", deit_cfg(size={"height": 48, "width": 64}, crop_size={"height": 50, "width": 69}), True),
        ("rgb16_64x50.png", deit_cfg(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 33}), True),
        ("gray16_40x30.png", deit_cfg(size={"height": 13, "width": 17}, resample=2, do_center_crop=False), True),
        ("la16_33x21.png", deit_cfg(size={"height": 70, "width": 50}, crop_size={"height": 31, "width": 31}), True),
        ("la_45x33.png", deit_cfg(size={"height": 20, "width": 90}, resample=0, do_center_crop=False), True),
        ("la_45x33.png", deit_cfg(size={"height": 71, "width": 13}, resample=1, do_center_crop=False), True),
        ("la_45x33.png", deit_cfg(size={"height": 16, "width": 100}, resample=4, do_center_crop=False), True),
        ("la_45x33.png", deit_cfg(size={"height": 50, "width": 22}, resample=5, do_center_crop=False), True),
        ("gray4_37x29.png", deit_cfg(size={"height": 29, "width": 100}, do_center_crop=False,
                                     do_rescale=False, image_mean=[10, 20, 30], image_std=[3, 4, 5]), True),
    ]
    def add_case(name, rgb, cfg, keep_float):
        resized, out = preprocess(rgb, cfg)
        stem = f"case{len(manifest['preprocess']):02d}"
        small_input = rgb.width * rgb.height <= 20000
        manifest["preprocess"].append({
            "input": name, "config": cfg,
            "decoded": save_png(stem + "_decoded.png", np.array(rgb)) if small_input and not name.startswith("formula:") else "",
            "resized": save_png(stem + "_resized.png", resized), "resized_shape": list(resized.shape),
            "output": save_bin(stem + "_output.bin.gz", out) if keep_float else "", "output_shape": list(out.shape),
        })

    for name, cfg, keep_float in cases:
        if name.startswith("formula:"):
            w, h = map(int, name[len("formula:"):].split("x"))
            rgb = Image.fromarray(formula(w, h))
        else:
            rgb = load_image(os.path.join(OUT, name))
        add_case(name, rgb, cfg, keep_float)

    # --- decoders: other formats, compared with Pillow's decode --------------
    base = Image.fromarray(smooth(97, 61, 3, 11))
    enc = [
        ("lossless.webp", lambda f: base.save(f, "WEBP", lossless=True), 0),
        ("lossy.webp", lambda f: base.save(f, "WEBP", quality=80), 0),
        ("rgb.bmp", lambda f: base.save(f, "BMP"), 0),
        ("palette.bmp", lambda f: base.quantize(40).save(f, "BMP"), 0),
        ("rgb.tiff", lambda f: base.save(f, "TIFF"), 0),
        ("rgb_deflate.tiff", lambda f: base.save(f, "TIFF", compression="tiff_adobe_deflate"), 0),
        ("transparent.gif", lambda f: base.quantize(30).save(f, "GIF", transparency=3), 0),
    ]
    for name, fn, _ in enc:
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            fn(f)
        rgb = load_image(path)
        manifest["decode"].append({"input": name, "w": rgb.width, "h": rgb.height,
                                   "decoded": save_png("golden_" + name.replace(".", "_") + ".png", np.array(rgb))})

    # --- EXIF orientation: the same 5x3 image tagged 1..8 ---------------------
    small = Image.fromarray(smooth(5, 3, 3, 12, noise=60))
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        name = f"orient{o}.png"
        small.save(os.path.join(OUT, name), exif=exif.tobytes())
        rgb = load_image(os.path.join(OUT, name))
        manifest["orientation"].append({"input": name, "orientation": o, "w": rgb.width, "h": rgb.height,
                                        "pixels": list(np.array(rgb).reshape(-1).tolist())})
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(smooth(9, 4, 3, 14)).save(os.path.join(OUT, "orient8.webp"), "WEBP", lossless=True,
                                               exif=exif.tobytes())
    # (TIFF orientation is left out: Pillow 9.4 applies it in TiffImageFile.load_end
    # and exif_transpose applies it again.)
    for name in ["orient8.webp"]:
        rgb = load_image(os.path.join(OUT, name))
        manifest["decode"].append({"input": name, "w": rgb.width, "h": rgb.height,
                                   "decoded": save_png("golden_" + name.replace(".", "_") + ".png", np.array(rgb))})

    # --- JPEG: Pillow's decode and the whole DeiT preprocessing ---------------
    # Both sides decode with libjpeg-turbo, so every byte must match. Pillow
    # cannot write YCCK, RGB-coded, 4:1:1 / 4:4:0, arithmetic-coded or restart
    # variants: mkjpeg.c (built here with gcc -ljpeg) writes those.
    mkjpeg = build_mkjpeg()
    cmyk_pixels = smooth(97, 61, 4, 15)
    exif6 = Image.Exif()
    exif6[0x0112] = 6
    jpegs = [
        ("q90_420.jpg", lambda: pil_bytes(base, quality=90, subsampling=2)),
        ("q90_422.jpg", lambda: pil_bytes(base, quality=90, subsampling=1)),
        ("q90_444.jpg", lambda: pil_bytes(base, quality=90, subsampling=0)),
        ("q50_420.jpg", lambda: pil_bytes(base, quality=50)),
        ("q75_420_progressive.jpg", lambda: pil_bytes(base, quality=75, progressive=True)),
        ("gray.jpg", lambda: pil_bytes(base.convert("L"), quality=90)),
        ("cmyk.jpg", lambda: pil_bytes(base.convert("CMYK"), quality=95)),  # Adobe marker, transform 0
        ("cmyk_no_adobe.jpg", lambda: drop_segment(pil_bytes(base.convert("CMYK"), quality=95), 0xEE)),
        ("cmyk_progressive.jpg", lambda: pil_bytes(Image.fromarray(cmyk_pixels, "CMYK"), quality=90, progressive=True)),
        ("ycck.jpg", lambda: run_mkjpeg(mkjpeg, "ycck", cmyk_pixels)),
        ("rgb_coded.jpg", lambda: run_mkjpeg(mkjpeg, "rgb", np.array(base))),
        ("s411.jpg", lambda: run_mkjpeg(mkjpeg, "s411", np.array(base))),
        ("s440.jpg", lambda: run_mkjpeg(mkjpeg, "s440", np.array(base))),
        ("arith.jpg", lambda: run_mkjpeg(mkjpeg, "arith", np.array(base))),
        ("restart.jpg", lambda: run_mkjpeg(mkjpeg, "restart", np.array(base))),
        ("corrupt.jpg", lambda: corrupt_scan(pil_bytes(base, quality=90, subsampling=2))),
        ("orient6.jpg", lambda: pil_bytes(Image.fromarray(smooth(40, 24, 3, 13)), quality=95, exif=exif6.tobytes())),
    ]
    jpeg_cfg = deit_cfg(size={"height": 40, "width": 40}, crop_size={"height": 32, "width": 32})
    manifest["jpeg_prefixes"] = []
    for name, make in jpegs:
        data = make()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        add_case(name, load_image(os.path.join(OUT, name)), jpeg_cfg, True)
        # Pillow raises "image file is truncated" for every prefix that ends
        # before the last scanline is decoded; the prefixes it accepts (a
        # corrupt scan can end early) decode like the whole file.
        accepted = []
        for n in range(len(data)):
            rgb = pillow_rgb(data[:n])
            if rgb is not None:
                assert np.array_equal(rgb, pillow_rgb(data)), (name, n)
                accepted.append(n)
        manifest["jpeg_prefixes"].append({"input": name, "size": len(data), "accepted": accepted})

    # Endings after the last scan: Pillow accepts a missing EOI only when the
    # scanlines were complete before the data ran out.
    manifest["jpeg_endings"] = []
    for name in ["q90_420.jpg", "q75_420_progressive.jpg"]:
        with open(os.path.join(OUT, name), "rb") as f:
            data = f.read()
        for keep, tail in [(len(data), b"trailing garbage"), (len(data) - 2, b""), (len(data) - 1, b""),
                           (len(data) - 2, b"\xff"), (len(data) - 2, b"\xff\xd0"),
                           (len(data) - 2, b"\xff\xfe\x00\x05abc"), (len(data) - 2, b"\xff\xfe\x00\x09abc")]:
            rgb = pillow_rgb(data[:keep] + tail)
            manifest["jpeg_endings"].append({
                "input": name, "keep": keep, "append": tail.hex(), "pillow_ok": rgb is not None,
                "rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest() if rgb is not None else ""})

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
