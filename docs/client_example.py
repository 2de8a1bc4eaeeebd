#!/usr/bin/env python3
"""Classify images with a vkdeit (or any Triton/KServe v2) server, using the
Python standard library only.

    python3 docs/client_example.py --url http://localhost:8080 --model NAME cat.jpg dog.png

Each image is sent twice, to show both forms of the Open Inference Protocol
over REST:

* JSON: the image file base64-encoded in a BYTES input named "image", and
  the "logits" output asked for with Triton's classification extension
  ("parameters": {"classification": K}), which answers "score:index:label"
  strings.
* binary: the image file as raw bytes after the JSON header (Triton's
  binary tensor data extension: a 4-byte little-endian length before each
  BYTES element, the header's length in Inference-Header-Content-Length),
  and the logits back as raw little-endian float32, ranked here.

It prints one line per image and form: IMAGE, FORM, then K label=probability
pairs (JSON form: label=logit), tab-separated.
"""

import argparse
import base64
import json
import math
import struct
import sys
import urllib.error
import urllib.request


def post(url, body, headers):
    """POSTs body and returns (headers, body); an HTTP error exits with the
    server's message."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"{url}: HTTP {e.code}: {e.read().decode(errors='replace')}")


def classify_json(url, model, image, k):
    """The JSON form: base64 image in, classification strings out."""
    request = {
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                    "data": [base64.b64encode(image).decode()]}],
        "outputs": [{"name": "logits", "parameters": {"classification": k}}],
    }
    _, body = post(f"{url}/v2/models/{model}/infer", json.dumps(request).encode(),
                   {"Content-Type": "application/json"})
    out = json.loads(body)["outputs"][0]
    result = []
    for element in out["data"]:  # "logit:index:label"; a label may hold ':'
        value, _, label = element.split(":", 2)
        result.append((label, float(value)))
    return result


def classify_binary(url, model, image, k, labels):
    """The binary form: raw image in, raw float32 logits out."""
    header = json.dumps({
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                    "parameters": {"binary_data_size": 4 + len(image)}}],
        "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
    }).encode()
    body = header + struct.pack("<I", len(image)) + image
    headers, answer = post(f"{url}/v2/models/{model}/infer", body, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    })
    n = int(headers["Inference-Header-Content-Length"])
    raw = answer[n:]
    logits = struct.unpack(f"<{len(raw) // 4}f", raw)
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    ranked = sorted(range(len(logits)), key=lambda i: (-logits[i], i))[:k]
    return [(labels[i] if i < len(labels) else f"LABEL_{i}", exps[i] / total) for i in ranked]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://localhost:8080", help="the server's HTTP address")
    p.add_argument("--model", required=True, help="the model's name (see GET /v2/models/NAME)")
    p.add_argument("--top-k", type=int, default=3, help="classes per image")
    p.add_argument("images", nargs="+", help="image files")
    a = p.parse_args()
    url = a.url.rstrip("/")

    # Triton's model configuration: the logits' width is the class count.
    with urllib.request.urlopen(f"{url}/v2/models/{a.model}/config", timeout=30) as resp:
        config = json.load(resp)
    width = next(o["dims"][0] for o in config["output"] if o["name"] == "logits")
    for path in a.images:
        with open(path, "rb") as f:
            image = f.read()
        by_json = classify_json(url, a.model, image, a.top_k)
        # The JSON form, asked for every class, names them all: the labels
        # the binary form ranks by index.
        everything = classify_json_indexed(url, a.model, image, width)
        labels = [everything.get(i, f"LABEL_{i}") for i in range(width)]
        by_binary = classify_binary(url, a.model, image, a.top_k, labels)
        for form, result in (("json", by_json), ("binary", by_binary)):
            pairs = "\t".join(f"{label}={score:.6f}" for label, score in result)
            print(f"{path}\t{form}\t{pairs}")


def classify_json_indexed(url, model, image, k):
    """index → label for the k highest logits (all classes when k is the
    class count), from the classification extension's strings."""
    request = {
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                    "data": [base64.b64encode(image).decode()]}],
        "outputs": [{"name": "logits", "parameters": {"classification": k}}],
    }
    _, body = post(f"{url}/v2/models/{model}/infer", json.dumps(request).encode(),
                   {"Content-Type": "application/json"})
    labels = {}
    for element in json.loads(body)["outputs"][0]["data"]:
        _, index, label = element.split(":", 2)
        labels[int(index)] = label
    return labels


if __name__ == "__main__":
    main()
