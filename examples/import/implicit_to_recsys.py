#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Train an `implicit` ALS model on an interaction file and write it as a recsys `als` model
directory (manifest.json + blobs/*.bin) that `recsys recommend -m DIR` serves.

    python3 examples/import/implicit_to_recsys.py \
        -i examples/data/interactions.tsv -o /tmp/implicit-als
    recsys recommend -m /tmp/implicit-als -i examples/data/interactions.tsv --users u000001

The input is read like `recsys train` reads it: CSV or TSV with a header naming a user and an
item column (user/user_id/userid, item/item_id/itemid, a ":type" suffix is ignored) and
optionally `weight` and a timestamp (timestamp/time/ts, unix seconds). Repeated
(user, item) pairs are summed. The format written is docs/reference/model-artifact.md.

Needs numpy, scipy and implicit (pip install implicit). Only the standard library and numpy
are needed to write the artifact; replace `train_implicit` to import factors from elsewhere.
"""

import argparse
import csv
import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path

# implicit warns (and slows down) when OpenBLAS runs its own threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

FORMAT = "recsys-model"
FORMAT_VERSION = 1
ALS_VERSION = 1  # `Als::version()` in crates/recsys-core/src/models/als.rs

USER_NAMES = {"user", "user_id", "userid"}
ITEM_NAMES = {"item", "item_id", "itemid"}
TIME_NAMES = {"timestamp", "time", "ts"}


def read_interactions(path):
    """Returns (user ids, item ids, weights, timestamps or None) as parallel lists."""
    with open(path, newline="", encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n")
        delimiter = "\t" if "\t" in header else ","
        names = [h.split(":")[0].strip().lower() for h in header.split(delimiter)]

        def column(candidates, required):
            for i, name in enumerate(names):
                if name in candidates:
                    return i
            if required:
                sys.exit(f"{path}: no column named one of {sorted(candidates)}")
            return None

        u_col, i_col = column(USER_NAMES, True), column(ITEM_NAMES, True)
        w_col, t_col = column({"weight"}, False), column(TIME_NAMES, False)
        users, items, weights, stamps = [], [], [], []
        reader = csv.reader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE)
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(names):
                sys.exit(f"{path}:{line}: expected {len(names)} fields, found {len(row)}")
            users.append(row[u_col].strip())
            items.append(row[i_col].strip())
            weights.append(float(row[w_col]) if w_col is not None else 1.0)
            if t_col is not None:
                stamps.append(int(float(row[t_col])))
    return users, items, weights, (stamps if t_col is not None else None)


def build_matrix(users, items, weights):
    """users x items CSR (float32, repeated pairs summed) and the sorted id lists."""
    user_ids = sorted(set(users))
    item_ids = sorted(set(items))
    u_index = {u: k for k, u in enumerate(user_ids)}
    i_index = {i: k for k, i in enumerate(item_ids)}
    rows = np.fromiter((u_index[u] for u in users), dtype=np.int64, count=len(users))
    cols = np.fromiter((i_index[i] for i in items), dtype=np.int64, count=len(items))
    w = np.asarray(weights, dtype=np.float32)
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        sys.exit("weights must be finite and > 0")
    matrix = sp.coo_matrix((w, (rows, cols)), shape=(len(user_ids), len(item_ids))).tocsr()
    matrix.sum_duplicates()
    return matrix, user_ids, item_ids


def train_implicit(matrix, factors, iterations, regularization, alpha, seed):
    """Fits implicit's ALS so that it optimises the same objective as recsys' `als`.

    recsys uses confidence c = 1 + alpha * w. implicit 0.7 uses the matrix values themselves
    as confidence (its `alpha` only multiplies them), so it is given 1 + alpha * w and
    alpha = 1. The regularisation is added to YᵀY unscaled in both.
    """
    from implicit.als import AlternatingLeastSquares

    confidence = matrix.copy()
    confidence.data = (1.0 + alpha * confidence.data).astype(np.float32)
    model = AlternatingLeastSquares(
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        alpha=1.0,
        random_state=seed,
        use_gpu=False,
    )
    model.fit(confidence, show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


# --- Writing the artifact: this part is independent of implicit. -------------------------


def encode_f32(array):
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def encode_strings(strings):
    out = bytearray()
    for s in strings:
        b = s.encode("utf-8")
        out += struct.pack("<I", len(b)) + b
    return bytes(out)


def write_artifact(directory, manifest, blobs):
    """blobs: list of (name, dtype, shape, encoded bytes). Fills manifest["blobs"]."""
    directory = Path(directory)
    (directory / "blobs").mkdir(parents=True, exist_ok=True)
    manifest["blobs"] = []
    for name, dtype, shape, data in blobs:
        (directory / "blobs" / f"{name}.bin").write_bytes(data)
        manifest["blobs"].append(
            {
                "name": name,
                "dtype": dtype,
                "shape": list(shape),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    # Written last, as recsys does: a directory with a manifest is complete.
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def als_artifact(directory, user_ids, item_ids, matrix, user_factors, item_factors,
                 params, timestamps, metrics):
    n_users, n_items = matrix.shape
    f = params["factors"]
    if user_factors.shape != (n_users, f) or item_factors.shape != (n_items, f):
        sys.exit(f"factor shapes {user_factors.shape}, {item_factors.shape} "
                 f"do not match {n_users} users, {n_items} items, {f} factors")
    if not (np.all(np.isfinite(user_factors)) and np.all(np.isfinite(item_factors))):
        sys.exit("factors contain NaN or infinity; recsys would refuse them")
    # The popularity fallback: distinct users per item.
    popularity = np.diff(matrix.tocsc().indptr).astype(np.float32)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "algorithm": "als",
        "algorithm_version": ALS_VERSION,
        "params": params,
        "data": {
            "users": n_users,
            "items": n_items,
            "interactions": int(matrix.nnz),
            "min_timestamp": min(timestamps) if timestamps else None,
            "max_timestamp": max(timestamps) if timestamps else None,
        },
        "metrics": metrics,
    }
    write_artifact(
        directory,
        manifest,
        [
            ("user_ids", "str", [n_users], encode_strings(user_ids)),
            ("item_ids", "str", [n_items], encode_strings(item_ids)),
            ("popularity", "f32", [n_items], encode_f32(popularity)),
            ("user_factors", "f32", [n_users, f], encode_f32(user_factors)),
            ("item_factors", "f32", [n_items, f], encode_f32(item_factors)),
        ],
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-i", "--input", required=True, help="CSV/TSV interaction file")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--regularization", type=float, default=0.05)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()

    # The same ranges as AlsParams::validate; recsys refuses a model whose params fail them.
    if not 1 <= a.factors <= 1024 or not 1 <= a.iterations <= 1000:
        sys.exit("factors must be in 1..=1024 and iterations in 1..=1000")
    if not (a.regularization >= 0 and a.alpha >= 0):
        sys.exit("regularization and alpha must be >= 0")

    users, items, weights, stamps = read_interactions(a.input)
    matrix, user_ids, item_ids = build_matrix(users, items, weights)
    started = time.perf_counter()
    x, y = train_implicit(matrix, a.factors, a.iterations, a.regularization, a.alpha, a.seed)
    seconds = time.perf_counter() - started

    import implicit

    params = {
        "factors": a.factors,
        "iterations": a.iterations,
        "regularization": a.regularization,
        "alpha": a.alpha,
        # Not used by implicit's run; recsys uses cg_steps only when training, and its own
        # fold-in of unknown users always runs 10 CG steps.
        "cg_steps": 3,
        "seed": a.seed,
    }
    metrics = {"fit_seconds": seconds, "trained_by": f"implicit {implicit.__version__}"}
    als_artifact(a.output, user_ids, item_ids, matrix, x, y, params, stamps, metrics)
    print(json.dumps({"model": a.output, "users": len(user_ids), "items": len(item_ids),
                      "interactions": int(matrix.nnz), "fit_seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
