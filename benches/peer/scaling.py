#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scaling of `recsys train -a als` with the size of the data, optionally next to implicit.

    python3 benches/peer/scaling.py                      # 0.1M, 1M and 10M interactions
    python3 benches/peer/scaling.py --sizes 100000 --implicit

For each size N, `recsys generate` writes N interactions over N/20 users and N/100 items (the
shape of the 3.5M peer benchmark set: about 20 items per user, 5 users per item), then
`recsys train -a als` fits factors=64, iterations=15 on the whole file. Printed per size: fit
seconds (the fit alone), wall seconds of the process (parsing and saving included), peak heap
and peak RSS of the process, and the size of one CSR copy of the matrix plus the factors,
which the peak is compared with. With --implicit, implicit's ALS fit on the same matrix is
timed too (OPENBLAS_NUM_THREADS=1, as implicit advises). Prints a Markdown table.
"""
import argparse
import json
import os
import sys
import tempfile
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_implicit import ROOT, run, run_rss  # noqa: E402


def implicit_fit_seconds(path, factors, iterations, regularization, alpha):
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares

    users, items = {}, {}
    rows, cols = [], []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        ui, ii = header.index("user"), header.index("item")
        for line in f:
            p = line.rstrip("\n").split("\t")
            rows.append(users.setdefault(p[ui], len(users)))
            cols.append(items.setdefault(p[ii], len(items)))
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (np.array(rows), np.array(cols))),
                      shape=(len(users), len(items)))
    m.sum_duplicates()
    model = AlternatingLeastSquares(factors=factors, iterations=iterations, regularization=regularization,
                                    alpha=alpha, use_cg=True, calculate_training_loss=False, random_state=42)
    start = time.perf_counter()
    model.fit(m, show_progress=False)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000,10000000", help="interaction counts, comma separated")
    ap.add_argument("--recsys", default=os.path.join(ROOT, "target", "release", "recsys"))
    ap.add_argument("--work", help="directory for the generated files (default: a temporary one)")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--regularization", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--implicit", action="store_true", help="also time implicit's ALS fit")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if not os.path.exists(args.recsys):
        sys.exit(f"{args.recsys} not found: run `cargo build --release -p recsys-cli` first")
    work = args.work or tempfile.mkdtemp(prefix="recsys-scaling-")
    os.makedirs(work, exist_ok=True)
    params = {"factors": args.factors, "iterations": args.iterations,
              "regularization": args.regularization, "alpha": args.alpha, "seed": 42}
    results = []
    for n in (int(x) for x in args.sizes.split(",")):
        users, items = max(n // 20, 1), max(n // 100, 1)
        data = os.path.join(work, f"gen-{n}.tsv")
        if not os.path.exists(data):
            run([args.recsys, "-q", "generate", "--users", str(users), "--items", str(items),
                 "--interactions", str(n), "--seed", "7", "-o", data])
        out, wall, rss = run_rss([args.recsys, "-q", "train", "-i", data, "-a", "als", "-p", json.dumps(params),
                                  "-o", os.path.join(work, f"model-{n}")])
        s = json.loads(out)
        nnz = s["interactions"]
        matrix = (nnz * 8 + (s["users"] + 1) * 8) / 2**20
        factors = (s["users"] + s["items"]) * args.factors * 4 / 2**20
        row = {"size": n, "users": s["users"], "items": s["items"], "nnz": nnz,
               "fit_s": s["fit_seconds"], "wall_s": wall, "peak_heap_mib": s["peak_heap_mib"],
               "peak_rss_mib": s.get("peak_rss_mib", rss), "matrix_plus_factors_mib": matrix + factors}
        if args.implicit:
            row["implicit_fit_s"] = implicit_fit_seconds(data, args.factors, args.iterations,
                                                         args.regularization, args.alpha)
        results.append(row)
        print(json.dumps(row), file=sys.stderr)

    head = "| interactions | users | items | fit s | process s | peak heap MiB | peak RSS MiB | matrix + factors MiB | heap / (matrix + factors) |"
    rule = "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    if args.implicit:
        head += " implicit fit s | fit ratio |"
        rule += " ---: | ---: |"
    print(head)
    print(rule)
    for r in results:
        line = (f"| {r['nnz']:,} | {r['users']:,} | {r['items']:,} | {r['fit_s']:.2f} | {r['wall_s']:.2f} | "
                f"{r['peak_heap_mib']:.1f} | {r['peak_rss_mib']:.1f} | {r['matrix_plus_factors_mib']:.1f} | "
                f"{r['peak_heap_mib'] / r['matrix_plus_factors_mib']:.2f} |")
        if args.implicit:
            line += f" {r['implicit_fit_s']:.2f} | {r['fit_s'] / r['implicit_fit_s']:.2f} |"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
