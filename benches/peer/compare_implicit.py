#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side-by-side benchmark: the `recsys` CLI against the `implicit` library (and a numpy EASE
reference) on the same train/test split, in one run, printing ratios.

    python3 benches/peer/compare_implicit.py --data ../shared/datasets/ml-100k.inter
    python3 benches/peer/compare_implicit.py --generate 200000,50000,3500000

Protocol (../shared/datasets/README.md): per user with >= 5 items, 20 % of items held out at
random (seed 42) by `recsys split`; both tools train on the same train file and recommend 10
items per test user excluding train items; both lists are scored by `recsys score`, so the
metric code is the same. Timings are medians over --repeat runs of the fit alone (recsys:
`fit_seconds` from the model manifest; implicit: the `fit` call); wall time of the whole
`recsys train` process (file parsing included) is reported too.

Memory: `recsys train` counts its own heap (a counting global allocator) and prints the peak
of the whole process, reading and saving included; it is compared with one CSR copy of the
train matrix (int32 indices, float32 values, int64 row pointers) plus the user and item
factors in float32. Peak RSS is reported next to it: the process's own VmHWM where Linux
reports it, else wait4's figure, which also counts the pages this Python process had when
it started the child and so overstates small runs.

implicit's own advice is followed: OPENBLAS_NUM_THREADS=1, implicit's threads = all cores.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Must precede the numpy import. OPENBLAS_CORETYPE/L2_SIZE are set on some machines to work
# around old OpenBLAS builds; they slow a current numpy, so drop them for this process only.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(var, None)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, capture=True):
    """Runs a command; returns (stdout, stderr, wall seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    # communicate() has reaped the child; its rusage is folded into RUSAGE_CHILDREN, so measure
    # peak RSS through /proc-free means: rerun under wait4 when needed (see run_rss).
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return out, err, wall


def run_rss(cmd):
    """Runs a command and returns (stdout, wall seconds, peak RSS in MiB) using wait4."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err.read()}")
        return out.read(), wall, usage.ru_maxrss / 1024.0


def read_tsv(path):
    users, items, weights = [], [], []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        ui, ii, wi = header.index("user"), header.index("item"), header.index("weight")
        for line in f:
            p = line.rstrip("\n").split("\t")
            users.append(p[ui])
            items.append(p[ii])
            weights.append(float(p[wi]))
    return users, items, weights


class Data:
    def __init__(self, train_path, test_path):
        tu, ti, tw = read_tsv(train_path)
        self.user_ids = sorted(set(tu))
        self.item_ids = sorted(set(ti))
        uix = {u: k for k, u in enumerate(self.user_ids)}
        iix = {i: k for k, i in enumerate(self.item_ids)}
        rows = np.fromiter((uix[u] for u in tu), dtype=np.int32, count=len(tu))
        cols = np.fromiter((iix[i] for i in ti), dtype=np.int32, count=len(ti))
        self.user_items = sp.csr_matrix(
            (np.asarray(tw, dtype=np.float32), (rows, cols)),
            shape=(len(self.user_ids), len(self.item_ids)),
        )
        su, _, _ = read_tsv(test_path)
        self.test_users = np.array(sorted({uix[u] for u in su if u in uix}), dtype=np.int32)


def write_recs(path, data, users, ids):
    with open(path, "w") as f:
        f.write("user\titem\trank\n")
        for u, row in zip(users, ids):
            for rank, i in enumerate(row):
                if i >= 0:
                    f.write(f"{data.user_ids[u]}\t{data.item_ids[i]}\t{rank + 1}\n")


def score(recsys, train, test, recs, k, diversity):
    cmd = [recsys, "-q", "score", "--train", train, "--test", test, "--recommendations", recs, "-k", str(k)]
    if not diversity:
        cmd.append("--no-diversity")
    out, _, _ = run(cmd)
    return json.loads(out)


def median(xs):
    return statistics.median(xs)


def bench_als(args, recsys, work, data, train, test):
    from implicit.cpu.als import AlternatingLeastSquares

    params = {"factors": args.factors, "iterations": args.iterations,
              "regularization": args.regularization, "alpha": args.alpha, "seed": 42}
    ours_fit, ours_wall, ours_rss, ours_heap = [], [], 0.0, 0.0
    model_dir = os.path.join(work, "als-model")
    for _ in range(args.repeat):
        out, wall, rss = run_rss([recsys, "-q", "train", "-i", train, "-a", "als", "-p", json.dumps(params), "-o", model_dir])
        summary = json.loads(out)
        ours_fit.append(summary["fit_seconds"])
        ours_wall.append(wall)
        # The process's own VmHWM when it reports one: wait4's figure also counts this
        # (large) Python process's pages, which the child inherits until it execs.
        ours_rss = max(ours_rss, summary.get("peak_rss_mib", rss))
        ours_heap = max(ours_heap, summary.get("peak_heap_mib", float("nan")))
    recs = os.path.join(work, "als-recs.tsv")
    _, err, _ = run([recsys, "recommend", "-m", model_dir, "-i", train, "--users-from", test, "-k", str(args.k), "-o", recs])
    ours_metrics = score(recsys, train, test, recs, args.k, args.diversity)

    # implicit's confidence is alpha * w, ours 1 + alpha * w: --implicit-alpha lets both solve
    # the same problem (ours at alpha 0 = implicit at alpha 1 on unit weights).
    implicit_alpha = args.alpha if args.implicit_alpha is None else args.implicit_alpha
    theirs_fit = []
    for _ in range(args.repeat):
        m = AlternatingLeastSquares(factors=args.factors, iterations=args.iterations,
                                    regularization=args.regularization, alpha=implicit_alpha,
                                    use_cg=True, calculate_training_loss=False, random_state=42)
        start = time.perf_counter()
        m.fit(data.user_items, show_progress=False)
        theirs_fit.append(time.perf_counter() - start)
    ids, _ = m.recommend(data.test_users, data.user_items[data.test_users], N=args.k, filter_already_liked_items=True)
    recs_theirs = os.path.join(work, "als-recs-implicit.tsv")
    write_recs(recs_theirs, data, data.test_users, ids)
    theirs_metrics = score(recsys, train, test, recs_theirs, args.k, args.diversity)

    nnz = data.user_items.nnz
    matrix_mib = (nnz * 8 + (data.user_items.shape[0] + 1) * 8) / 2**20
    factors_mib = sum(data.user_items.shape) * args.factors * 4 / 2**20
    return {
        "recsys_fit_s": median(ours_fit), "recsys_train_wall_s": median(ours_wall),
        "implicit_fit_s": median(theirs_fit), "fit_ratio": median(ours_fit) / median(theirs_fit),
        "recsys_ndcg": ours_metrics["ndcg"], "implicit_ndcg": theirs_metrics["ndcg"],
        "ndcg_delta": ours_metrics["ndcg"] - theirs_metrics["ndcg"],
        "recsys_peak_rss_mib": ours_rss, "recsys_peak_heap_mib": ours_heap,
        "recsys_data_mib": summary.get("data_mib"), "recsys_model_mib": summary.get("model_mib"),
        "matrix_mib": matrix_mib, "factors_mib": factors_mib,
        "matrix_plus_factors_mib": matrix_mib + factors_mib,
        "implicit_alpha": implicit_alpha,
        "recsys_metrics": ours_metrics, "implicit_metrics": theirs_metrics,
        "recsys_recommend": err.strip().splitlines()[-1] if err.strip() else "",
    }


def bench_itemknn(args, recsys, work, data, train, test):
    from implicit.nearest_neighbours import CosineRecommender

    params = {"neighbors": args.neighbors, "shrinkage": 0.0}
    model_dir = os.path.join(work, "knn-model")
    ours_fit = []
    for _ in range(args.repeat):
        out, _, _ = run([recsys, "-q", "train", "-i", train, "-a", "itemknn", "-p", json.dumps(params), "-o", model_dir])
        ours_fit.append(json.loads(out)["fit_seconds"])
    recs = os.path.join(work, "knn-recs.tsv")
    ours_rec = []
    for _ in range(args.repeat):
        _, err, _ = run([recsys, "recommend", "-m", model_dir, "-i", train, "-k", str(args.k), "-o", recs])
        ours_rec.append(json.loads(err.strip().splitlines()[-1])["seconds"])

    theirs_fit, theirs_rec = [], []
    all_users = np.arange(data.user_items.shape[0], dtype=np.int32)
    for _ in range(args.repeat):
        m = CosineRecommender(K=args.neighbors)
        start = time.perf_counter()
        m.fit(data.user_items, show_progress=False)
        theirs_fit.append(time.perf_counter() - start)
        start = time.perf_counter()
        m.recommend(all_users, data.user_items, N=args.k, filter_already_liked_items=True)
        theirs_rec.append(time.perf_counter() - start)
    return {
        "recsys_fit_s": median(ours_fit), "implicit_fit_s": median(theirs_fit),
        "fit_ratio": median(ours_fit) / median(theirs_fit),
        "recsys_recommend_all_s": median(ours_rec), "implicit_recommend_all_s": median(theirs_rec),
        "recommend_ratio": median(ours_rec) / median(theirs_rec),
    }


def bench_ease(args, recsys, work, data, train, test):
    from threadpoolctl import threadpool_limits

    params = {"lambda": args.ease_lambda, "max_memory_mb": 16384}
    model_dir = os.path.join(work, "ease-model")
    ours_fit = []
    for _ in range(args.repeat):
        out, _, _ = run([recsys, "-q", "train", "-i", train, "-a", "ease", "-p", json.dumps(params), "-o", model_dir])
        ours_fit.append(json.loads(out)["fit_seconds"])
    recs = os.path.join(work, "ease-recs.tsv")
    run([recsys, "recommend", "-m", model_dir, "-i", train, "--users-from", test, "-k", str(args.k), "-o", recs])
    ours = score(recsys, train, test, recs, args.k, args.diversity)

    X = data.user_items
    ref_fit = []
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(args.repeat):
            start = time.perf_counter()
            G = (X.T @ X).toarray().astype(np.float64)
            G[np.diag_indices_from(G)] += args.ease_lambda
            P = np.linalg.inv(G)
            B = P / -np.diag(P)
            B[np.diag_indices_from(B)] = 0.0
            ref_fit.append(time.perf_counter() - start)
        scores = X[data.test_users] @ B
    scores = np.asarray(scores)
    scores[X[data.test_users].toarray() > 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, : args.k]
    recs_ref = os.path.join(work, "ease-recs-numpy.tsv")
    write_recs(recs_ref, data, data.test_users, top)
    ref = score(recsys, train, test, recs_ref, args.k, args.diversity)
    return {
        "recsys_fit_s": median(ours_fit), "numpy_fit_s": median(ref_fit),
        "fit_ratio": median(ours_fit) / median(ref_fit),
        "recsys_ndcg": ours["ndcg"], "numpy_ndcg": ref["ndcg"], "ndcg_delta": ours["ndcg"] - ref["ndcg"],
    }


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import implicit
    return {"cpu": cpu, "cores": os.cpu_count(), "implicit": implicit.__version__, "numpy": np.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="interaction file (TSV/CSV with header)")
    src.add_argument("--generate", help="USERS,ITEMS,INTERACTIONS: generate synthetic data with `recsys generate`")
    ap.add_argument("--recsys", default=os.path.join(ROOT, "target", "release", "recsys"))
    ap.add_argument("--work", help="directory for intermediate files (default: a temporary one)")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--regularization", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=1.0, help="recsys confidence 1 + alpha * w")
    ap.add_argument("--implicit-alpha", type=float, default=None,
                    help="implicit's alpha (confidence alpha * w); default: the same as --alpha")
    ap.add_argument("--neighbors", type=int, default=50)
    ap.add_argument("--ease-lambda", type=float, default=250.0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is reported")
    ap.add_argument("--only", default="als,itemknn,ease", help="comma-separated subset of als,itemknn,ease")
    ap.add_argument("--diversity", action="store_true", help="also compute intra-list diversity (slow on big data)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    if not os.path.exists(args.recsys):
        sys.exit(f"{args.recsys} not found: run `cargo build --release -p recsys-cli` first")
    work = args.work or tempfile.mkdtemp(prefix="recsys-peer-")
    os.makedirs(work, exist_ok=True)
    data_path = args.data
    if args.generate:
        users, items, inter = (int(x) for x in args.generate.split(","))
        data_path = os.path.join(work, "generated.tsv")
        run([args.recsys, "-q", "generate", "--users", str(users), "--items", str(items),
             "--interactions", str(inter), "--seed", "7", "-o", data_path])
    train, test = os.path.join(work, "train.tsv"), os.path.join(work, "test.tsv")
    out, _, _ = run([args.recsys, "-q", "split", "-i", data_path, "--train-out", train, "--test-out", test])
    split = json.loads(out)
    data = Data(train, test)
    results = {"machine": machine(), "data": data_path, "split": split,
               "shape": {"users": data.user_items.shape[0], "items": data.user_items.shape[1], "train_nnz": data.user_items.nnz},
               "params": vars(args)}
    only = set(args.only.split(","))
    if "als" in only:
        results["als"] = bench_als(args, args.recsys, work, data, train, test)
    if "itemknn" in only:
        results["itemknn"] = bench_itemknn(args, args.recsys, work, data, train, test)
    if "ease" in only:
        results["ease"] = bench_ease(args, args.recsys, work, data, train, test)

    print(f"# recsys vs implicit on {data_path}")
    print(f"machine: {results['machine']}")
    print(f"train: {data.user_items.shape[0]} users x {data.user_items.shape[1]} items, {data.user_items.nnz} interactions; medians of {args.repeat} runs\n")
    if "als" in results:
        a = results["als"]
        print(f"ALS fit      recsys {a['recsys_fit_s']:.3f} s (process {a['recsys_train_wall_s']:.3f} s)  implicit {a['implicit_fit_s']:.3f} s  ratio {a['fit_ratio']:.2f}")
        print(f"ALS NDCG@{args.k}  recsys {a['recsys_ndcg']:.4f} (alpha {args.alpha:g})  implicit {a['implicit_ndcg']:.4f} (alpha {a['implicit_alpha']:g})  delta {a['ndcg_delta']:+.4f}")
        mf = a['matrix_plus_factors_mib']
        print(f"ALS memory   matrix {a['matrix_mib']:.1f} MiB (one CSR) + factors {a['factors_mib']:.1f} MiB = {mf:.1f} MiB")
        print(f"             recsys peak heap {a['recsys_peak_heap_mib']:.1f} MiB (ratio {a['recsys_peak_heap_mib'] / mf:.2f}); "
              f"peak RSS {a['recsys_peak_rss_mib']:.1f} MiB (ratio {a['recsys_peak_rss_mib'] / mf:.2f}); "
              f"in-memory matrices {a['recsys_data_mib']:.1f} MiB; saved model {a['recsys_model_mib']:.1f} MiB")
    if "itemknn" in results:
        k = results["itemknn"]
        print(f"kNN fit      recsys {k['recsys_fit_s']:.3f} s  implicit {k['implicit_fit_s']:.3f} s  ratio {k['fit_ratio']:.2f}")
        print(f"kNN rec all  recsys {k['recsys_recommend_all_s']:.3f} s  implicit {k['implicit_recommend_all_s']:.3f} s  ratio {k['recommend_ratio']:.2f}")
    if "ease" in results:
        e = results["ease"]
        print(f"EASE fit     recsys {e['recsys_fit_s']:.3f} s  numpy(1 BLAS thread) {e['numpy_fit_s']:.3f} s  ratio {e['fit_ratio']:.2f}")
        print(f"EASE NDCG@{args.k} recsys {e['recsys_ndcg']:.4f}  numpy {e['numpy_ndcg']:.4f}  delta {e['ndcg_delta']:+.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
