"""Converts benchmark datasets to .fvecs (int32 dim, then dim float32 per record, little-endian).

  convert_datasets.py idx   <images-idx3-ubyte.gz> <out.fvecs> <expected-count> <expected-dim>
  convert_datasets.py glove <embeddings.json> <base.fvecs> <query.fvecs> <queries> <seed>

Standard library only (runs on Debian's /usr/bin/python3). Verifies counts and dimensions.
"""
import array
import gzip
import json
import random
import struct
import sys


def write_fvecs(path, rows, dim):
    header = struct.pack("<i", dim)
    with open(path, "wb") as f:
        for i, row in enumerate(rows):
            values = array.array("f", list(row) if isinstance(row, (bytes, bytearray)) else row)
            if len(values) != dim:
                sys.exit(f"{path}: record {i} has {len(values)} values, expected {dim}")
            if sys.byteorder != "little":
                values.byteswap()
            f.write(header)
            f.write(values.tobytes())
            if i % 20000 == 0:
                print(f"  {path}: {i} records", flush=True)


def convert_idx(src, out, count, dim):
    with gzip.open(src, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x00000803 or n != count or rows * cols != dim:
            sys.exit(f"{src}: header magic={magic:#x} n={n} {rows}x{cols}, expected {count} x {dim}")
        pixels = f.read()
    if len(pixels) != count * dim:
        sys.exit(f"{src}: {len(pixels)} pixel bytes, expected {count * dim}")
    write_fvecs(out, (pixels[i * dim:(i + 1) * dim] for i in range(count)), dim)
    print(f"{out}: {count} x {dim}")


def convert_glove(src, base_out, query_out, queries, seed):
    with open(src, "r", encoding="utf-8") as f:
        data = json.load(f)
    dim, size = data["dimensions"], data["size"]
    words = data["words"]
    vectors = data["vectors"]
    if dim != 100 or size != len(words) or size != len(vectors):
        sys.exit(f"{src}: dimensions={dim} size={size} words={len(words)} vectors={len(vectors)}")
    held_out = set(random.Random(seed).sample(range(size), queries))
    base = [vectors[w][:dim] for i, w in enumerate(words) if i not in held_out]
    query = [vectors[words[i]][:dim] for i in sorted(held_out)]
    write_fvecs(base_out, base, dim)
    write_fvecs(query_out, query, dim)
    print(f"{base_out}: {len(base)} x {dim}; {query_out}: {len(query)} x {dim}")


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "idx":
        convert_idx(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif kind == "glove":
        convert_glove(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(__doc__)
