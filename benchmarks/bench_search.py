"""Hamming search at scale: the flat scan beside the XOR + popcount limit and bare faiss, and sub-linear search
against it at recall@k, on --n codes of --bits bits (default 10,000,000 x 48 bits, k = 100), one core.

Codes. Uniform random codes have no neighbourhood structure for an index to use; trained hash codes do: they cluster
around their class. ``clustered`` codes are ``--classes`` centres drawn uniformly from {0, 1}^bits, each code a
centre with every bit flipped independently with probability ``--flip``. The default 0.08 is measured on the
workbook's own model: notebook 06's A²-Net (48 bits, profile quick, synth-birds) puts its test codes 3.8 bits (0.08
x 48) from their class's majority code on average (its training codes 3.4), and its 60 class centres 23.8 bits
apart, as random centres are (24). The default 10,000 classes of 1,000 codes stand for a collection of that many
categories. Queries are drawn from the same distribution (``uniform``: uniform too); ``--distributions`` picks.

Measured, all on one thread (``faiss.omp_set_num_threads(--threads)``, default 1), every query batch searched in one
call, times the median of ``--repeats`` batches (the machine may be shared: the fastest too):

- flat: ``HammingIndex(bits)`` and bare ``faiss.IndexBinaryFlat`` on the same codes, and bare faiss on the codes
  padded with zero bits to one 64-bit word each (same distances; faiss then has a one-word kernel where 6-byte
  codes take its byte-by-byte loop); codes/s per core = n x queries / seconds / threads.
- limit: ``popcount_scan.c`` (built with the system C compiler, -O3 -march=native, called through ctypes) runs the
  tight loop of a flat scan, XOR + popcount + compare with a bound, once per query over the same codes: packed at
  ceil(bits/8) bytes (the layout faiss stores; one unaligned load per code) and one code per 64-bit word
  (vectorised, e.g. AVX-512 VPOPCNTQ: 8 codes per instruction). From first principles the word loop needs a few
  instructions per 8 codes, so on a database far larger than the caches it runs at the core's read bandwidth:
  codes/s = bytes/s / bytes per code, which the targets below print beside it. The flat scans and the two loops
  take turns batch by batch, so they share the machine's load. Without a compiler the limit is not measured.
- sub-linear: ``HammingIndex(bits, "mih")`` (exact multi-index hashing), ``HammingIndex(bits, "ivf")`` over an
  ``--nprobe`` sweep (``--nlist`` lists), and bare ``faiss.IndexBinaryMultiHash`` (``--multihash-tables`` tables of
  bits / tables bits, an ``--nflip`` sweep).

Recall@k against the flat scan's exact top-k, tie rule: a returned item counts when its distance is at most the
exact k-th distance (every code tied at the boundary is an equally correct answer, so recall does not depend on
which tied code a method returns); an approximate method's distances are checked against the codes.

    python benchmarks/bench_search.py [--small] [--markdown benchmarks/bench_search.md] [--score-command CMD]
"""
from __future__ import annotations

import argparse
import ctypes
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from a2lib.multi_index import substring_count
from a2lib.search import BITS_PER_BYTE, HammingIndex, packed_width

HERE = Path(__file__).resolve().parent
SCAN_SOURCE = HERE / "popcount_scan.c"
WORD_BYTES = 8
LIMIT_BOUND = 12
"""The bound the tight loop compares with (any value: the loop's work does not depend on it)."""
GENERATION_CHUNK = 1_000_000
TARGET_RECALL = 0.95
TARGET_SPEEDUP = 10.0
TARGET_RATIO_TO_FAISS = 2.0
DISTRIBUTIONS = ("clustered", "uniform")
LIMIT_METHOD = "tight loop (popcount_scan.c)"
LIMITS = ("packed at ceil(bits/8) bytes", "one code per 64-bit word")
FLAT_METHODS = ("HammingIndex exact", "faiss.IndexBinaryFlat", LIMIT_METHOD)
SMALL = {"n": 200_000, "queries": 20, "repeats": 2, "classes": 200, "nlist": 128, "nprobe": [1, 8, 128]}
"""``--small``: a run of seconds for the tests (the same code paths, smaller numbers)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="database codes")
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--queries", type=int, default=50, help="queries, searched in one batch")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--distributions", nargs="+", default=list(DISTRIBUTIONS), choices=DISTRIBUTIONS)
    parser.add_argument("--classes", type=int, default=10_000, help="clustered: class centres")
    parser.add_argument("--flip", type=float, default=0.08, help="clustered: per-bit flip probability")
    parser.add_argument("--nlist", type=int, default=1024, help="ivf lists (build time grows with it)")
    parser.add_argument("--nprobe", type=int, nargs="*", default=[1, 4, 16, 64])
    parser.add_argument("--multihash-tables", type=int, default=3)
    parser.add_argument("--nflip", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="a run of seconds (SMALL) for the tests")
    parser.add_argument("--markdown", default=None, help="write the table and the run's settings here")
    parser.add_argument("--score-command", default=None,
                        help="a command printing the machine's score, run before and after the benchmark and recorded")
    args = parser.parse_args(argv)
    if args.small:
        for name, value in SMALL.items():
            setattr(args, name, value)
    if args.k > args.n or args.bits > WORD_BYTES * BITS_PER_BYTE:
        parser.error(f"need k <= n and bits <= 64; got k={args.k}, n={args.n}, bits={args.bits}")
    return args


def flip_masks(n: int, width: int, flip: float, rng: np.random.Generator) -> np.ndarray:
    """(n, width) bytes whose bits are 1 independently with probability ``flip`` (one draw per byte)."""
    ones = np.bitwise_count(np.arange(256, dtype=np.uint8)).astype(np.float64)
    byte_probability = flip ** ones * (1 - flip) ** (BITS_PER_BYTE - ones)
    return rng.choice(256, size=(n, width), p=byte_probability).astype(np.uint8)


def make_codes(distribution: str, n: int, bits: int, classes: int, flip: float, seed: int) -> np.ndarray:
    """``n`` packed codes of ``distribution`` (module docstring), padding bits zero."""
    rng = np.random.default_rng(seed)
    width = packed_width(bits)
    padding = np.uint8((1 << (width * BITS_PER_BYTE - bits)) - 1)
    codes = np.empty((n, width), dtype=np.uint8)
    centres = rng.integers(0, 256, (classes, width), dtype=np.uint8) if distribution == "clustered" else None
    for start in range(0, n, GENERATION_CHUNK):
        stop = min(n, start + GENERATION_CHUNK)
        if centres is None:
            block = rng.integers(0, 256, (stop - start, width), dtype=np.uint8)
        else:
            block = centres[rng.integers(0, classes, stop - start)] ^ flip_masks(stop - start, width, flip, rng)
        block[:, -1] &= ~padding
        codes[start:stop] = block
    return codes


def _load_scan_library(workdir: str):
    """``popcount_scan.c`` compiled and loaded, or None (with the reason printed) where no C compiler works."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        print("limit: no C compiler found (set CC); the tight loop is not measured")
        return None
    library = Path(workdir) / "popcount_scan.so"
    built = subprocess.run([compiler, "-O3", "-march=native", "-shared", "-fPIC", "-o", str(library),
                            str(SCAN_SOURCE)], capture_output=True, text=True)
    if built.returncode:
        print(f"limit: {compiler} could not build {SCAN_SOURCE.name}: {built.stderr.strip()}")
        return None
    scan = ctypes.CDLL(str(library))
    scan.scan_words.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_int]
    scan.scan_packed.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_int]
    scan.scan_words.restype = scan.scan_packed.restype = ctypes.c_long
    return scan


def _padded(codes: np.ndarray) -> np.ndarray:
    """The codes padded with zero bytes to one 64-bit word each (same distances; faiss then has an 8-byte kernel)."""
    out = np.zeros((len(codes), WORD_BYTES), dtype=np.uint8)
    out[:, :codes.shape[1]] = codes
    return out


def _little_endian(code: np.ndarray) -> int:
    return int.from_bytes(code.tobytes() + bytes(WORD_BYTES - len(code)), "little")


def limit_scans(scan, codes: np.ndarray) -> dict:
    """The tight loop over ``codes`` packed and as 64-bit words, each a search of a query batch (one pass over the
    codes per query, returning the counts under ``LIMIT_BOUND``); both checked against numpy on one query."""
    n, width = codes.shape
    words = _padded(codes).view("<u8").ravel()
    scans = {
        LIMITS[0]: lambda batch, k: [scan.scan_packed(codes.ctypes.data, n, width, _little_endian(q), LIMIT_BOUND)
                                     for q in batch],
        LIMITS[1]: lambda batch, k: [scan.scan_words(words.ctypes.data, n, _little_endian(q), LIMIT_BOUND)
                                     for q in batch],
    }
    expected = int((np.bitwise_count(words ^ np.uint64(_little_endian(codes[0]))) < LIMIT_BOUND).sum())
    for layout, search in scans.items():
        if search(codes[:1], 0) != [expected]:
            raise RuntimeError(f"the tight loop ({layout}) counts other codes than numpy: {SCAN_SOURCE.name} is wrong")
    return scans


def alternating(searches: dict, queries: np.ndarray, k: int, repeats: int) -> dict[str, tuple[list[float], tuple]]:
    """Per search: the seconds of ``repeats`` searches of the whole batch (after a one-query warm-up) and the last
    result; the searches take turns (ABAB...), so they share the machine's load."""
    runs = {name: ([], search(queries[:1], k)) for name, search in searches.items()}
    for _ in range(repeats):
        for name, search in searches.items():
            start = time.perf_counter()
            result = search(queries, k)
            runs[name][0].append(time.perf_counter() - start)
            runs[name] = (runs[name][0], result)
    return runs


def tie_recall(distances: np.ndarray, indices: np.ndarray, exact_distances: np.ndarray, codes: np.ndarray,
               queries: np.ndarray) -> float:
    """Recall@k with the tie rule of the module docstring, after checking each returned distance against the
    codes (a missing result, index -1, counts as a miss)."""
    found = indices >= 0
    pairs = queries[np.nonzero(found)[0]] ^ codes[indices[found]]
    if not np.array_equal(np.unpackbits(pairs, axis=1).sum(axis=1), distances[found]):
        raise RuntimeError("a search returned distances that are not the codes' Hamming distances")
    return float(np.mean(found & (distances <= exact_distances[:, -1:])))


def _row(distribution, method, settings, seconds, n, queries, build, nbytes, recall, flat_seconds):
    median = statistics.median(seconds)
    return {"distribution": distribution, "method": method, "settings": settings, "seconds": median,
            "fastest": min(seconds), "queries_per_second": queries / median, "codes_per_second": n * queries / median,
            "speedup": flat_seconds / median, "build_seconds": build, "bytes_per_item": nbytes / n, "recall": recall}


def run_distribution(distribution: str, args, scan) -> list[dict]:
    started = time.perf_counter()
    all_codes = make_codes(distribution, args.n + args.queries, args.bits, args.classes, args.flip, args.seed)
    codes, queries = all_codes[:args.n], all_codes[args.n:]
    print(f"{distribution}: {args.n:,} x {args.bits}-bit codes and {args.queries} queries made in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    builds = {}
    start = time.perf_counter()
    flat = HammingIndex(args.bits).add(codes)
    builds["flat"] = time.perf_counter() - start
    start = time.perf_counter()
    bare = faiss.IndexBinaryFlat(packed_width(args.bits) * BITS_PER_BYTE)
    bare.add(codes)
    builds["faiss"] = time.perf_counter() - start
    start = time.perf_counter()
    padded = faiss.IndexBinaryFlat(WORD_BYTES * BITS_PER_BYTE)
    padded.add(_padded(codes))
    builds["padded"] = time.perf_counter() - start
    limits = limit_scans(scan, codes) if scan is not None else {}
    runs = alternating({"flat": flat.search, "faiss": bare.search,
                        "padded": lambda batch, k: padded.search(_padded(batch), k), **limits},
                       queries, args.k, args.repeats)
    flat_seconds = statistics.median(runs["flat"][0])
    exact_distances, exact_indices = runs["flat"][1]
    if not (np.array_equal(runs["faiss"][1][0], exact_distances) and np.array_equal(runs["faiss"][1][1],
                                                                                    exact_indices)):
        raise RuntimeError("HammingIndex(exact) and bare IndexBinaryFlat returned different neighbours")
    rows = [_row(distribution, "HammingIndex exact", "flat scan", runs["flat"][0], args.n, args.queries,
                 builds["flat"], flat.nbytes, 1.0, flat_seconds),
            _row(distribution, "faiss.IndexBinaryFlat", "bare", runs["faiss"][0], args.n, args.queries,
                 builds["faiss"], int(bare.xb.size()), 1.0, flat_seconds),
            _row(distribution, "faiss.IndexBinaryFlat", "bare, codes padded to 64 bits", runs["padded"][0], args.n,
                 args.queries, builds["padded"], int(padded.xb.size()), 1.0, flat_seconds)]
    rows += [_row(distribution, LIMIT_METHOD, layout, runs[layout][0], args.n, args.queries, 0.0,
                  args.n * (packed_width(args.bits) if layout == LIMITS[0] else WORD_BYTES), None, flat_seconds)
             for layout in limits]
    if not np.array_equal(runs["padded"][1][0], exact_distances):
        raise RuntimeError("padding the codes with zero bits changed their distances")
    del padded
    print(f"  flat: {flat_seconds / args.queries * 1e3:.2f} ms/query", flush=True)

    def sub_linear(method, settings, index, build_seconds, nbytes, exact=False):
        seconds, (distances, indices) = alternating({method: index.search}, queries, args.k, args.repeats)[method]
        recall = tie_recall(distances, indices, exact_distances, codes, queries)
        if exact and not (np.array_equal(distances, exact_distances) and np.array_equal(indices, exact_indices)):
            raise RuntimeError(f"{method} returned other neighbours than the flat scan")
        rows.append(_row(distribution, method, settings, seconds, args.n, args.queries, build_seconds, nbytes, recall,
                         flat_seconds))
        print(f"  {method} {settings}: {statistics.median(seconds) / args.queries * 1e3:.3f} ms/query, recall "
              f"{recall:.3f}", flush=True)

    start = time.perf_counter()
    mih = HammingIndex(args.bits, "mih").add(codes)
    sub_linear("HammingIndex mih", f"{substring_count(args.bits, args.n)} substrings", mih,
               time.perf_counter() - start, mih.nbytes, exact=True)
    del mih
    if distribution == "clustered":
        start = time.perf_counter()
        multihash = faiss.IndexBinaryMultiHash(packed_width(args.bits) * BITS_PER_BYTE, args.multihash_tables,
                                               args.bits // args.multihash_tables)
        multihash.add(codes)
        build = time.perf_counter() - start
        for nflip in args.nflip:
            multihash.nflip = nflip
            sub_linear("faiss.IndexBinaryMultiHash", f"{args.multihash_tables} tables, nflip {nflip}", multihash,
                       build, len(faiss.serialize_index_binary(multihash)))
        del multihash
        start = time.perf_counter()
        ivf = HammingIndex(args.bits, "ivf", nlist=args.nlist).add(codes)
        build = time.perf_counter() - start
        for nprobe in args.nprobe:
            ivf.faiss_index.nprobe = min(nprobe, args.nlist)
            sub_linear("HammingIndex ivf", f"nlist {args.nlist}, nprobe {nprobe}", ivf, build, ivf.nbytes)
        del ivf
    return rows


def _number(value, digits=2) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}" if abs(value) < 1e5 else f"{value:.2e}"


def markdown(rows: list[dict], checks: list[str], args, argv: list[str], seconds: float) -> str:
    """The table and the target checks as markdown, with the command, the machine and its load."""
    k = args.k
    lines = [f"| codes | method | settings | ms/query (fastest) | queries/s | codes/s per core | x flat | "
             f"recall@{k} | build s | bytes/item |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        flat = row["method"] in FLAT_METHODS
        recall = "" if row["recall"] is None else f"{row['recall']:.3f}"
        lines.append(
            f"| {row['distribution']} | {row['method']} | {row['settings']} | "
            f"{_number(row['seconds'] / args.queries * 1e3, 3)} ({_number(row['fastest'] / args.queries * 1e3, 3)}) | "
            f"{_number(row['queries_per_second'], 1)} | "
            f"{_number(row['codes_per_second'] / args.threads) if flat else ''} | {_number(row['speedup'], 1)} | "
            f"{recall} | {_number(row['build_seconds'], 1)} | {_number(row['bytes_per_item'], 1)} |")
    command = " ".join(["python benchmarks/bench_search.py", *(shlex.quote(a) for a in argv)])
    return "\n".join([
        f"# Hamming search at scale: {args.n:,} x {args.bits}-bit codes, k = {k}, {args.threads} thread(s)", "",
        f"Made by `{command}` in {seconds:.0f} s on {platform.processor() or platform.machine()} "
        f"({os.cpu_count()} cores), faiss {faiss.__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}.", "",
        f"Machine score (`{args.score_command}`) before and after: {'; '.join(args.scores)}. Load average (1 min) "
        f"at the start and the end: {args.load_at_start:.1f}, {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        f"Codes (module docstring of `benchmarks/bench_search.py`): clustered = {args.classes:,} centres, per-bit "
        f"flip probability {args.flip}; uniform = uniform random. {args.queries} queries per batch, times the median "
        f"(and the fastest) of {args.repeats} batches; the flat scans and the tight loop take turns batch by batch, "
        f"so they share the machine's load. Recall: a returned code counts when its distance is at most the exact "
        f"{k}-th distance (ties at the boundary are equally correct).", "",
        *lines, "", "Targets:", "", *checks, ""])


def check_targets(rows: list[dict]) -> list[str]:
    """The targets of the module docstring, each met or not met, and the flat scan as a share of each tight loop,
    as markdown list lines."""
    lines = []
    for distribution in dict.fromkeys(row["distribution"] for row in rows):
        mine = [row for row in rows if row["distribution"] == distribution]
        flat, bare = mine[0], mine[1]
        ratio = flat["seconds"] / bare["seconds"]
        lines.append(f"- {distribution}: flat HammingIndex / bare faiss time {ratio:.2f} (target <= "
                     f"{TARGET_RATIO_TO_FAISS:g}): {'met' if ratio <= TARGET_RATIO_TO_FAISS else 'NOT met'}")
        for limit in (row for row in mine if row["method"] == LIMIT_METHOD):
            lines.append(f"- {distribution}: flat scan at {flat['codes_per_second'] / limit['codes_per_second']:.0%} "
                         f"of the tight loop ({limit['settings']}: {_number(flat['codes_per_second'])} of "
                         f"{_number(limit['codes_per_second'])} codes/s; the loop reads "
                         f"{limit['codes_per_second'] * limit['bytes_per_item'] / 1e9:.1f} GB/s)")
        good = [row for row in mine if row["method"] not in FLAT_METHODS and row["recall"] >= TARGET_RECALL]
        best = max(good, key=lambda row: row["speedup"], default=None)
        if best is None:
            lines.append(f"- {distribution}: no sub-linear search reached recall {TARGET_RECALL}: NOT met")
        else:
            met = "met" if best["speedup"] >= TARGET_SPEEDUP else "NOT met"
            lines.append(f"- {distribution}: fastest at recall >= {TARGET_RECALL}: {best['method']} "
                         f"({best['settings']}), {best['speedup']:.1f}x the flat scan's queries/s, recall "
                         f"{best['recall']:.3f} (target >= {TARGET_SPEEDUP:g}x): {met}")
    return lines


def machine_score(command: str | None) -> str:
    """The last line ``command`` prints (the machine's score), or why there is none."""
    if not command:
        return "not measured (--score-command)"
    done = subprocess.run(shlex.split(command), capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    return lines[-1] if done.returncode == 0 and lines else f"{command!r} failed: {done.stderr.strip()[-200:]}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.scores = [machine_score(args.score_command)]
    args.load_at_start = os.getloadavg()[0]
    faiss.omp_set_num_threads(args.threads)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        scan = _load_scan_library(workdir)
        for distribution in args.distributions:
            rows += run_distribution(distribution, args, scan)
    args.scores.append(machine_score(args.score_command))
    checks = check_targets(rows)
    text = markdown(rows, checks, args, argv, time.perf_counter() - started)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
        print(f"wrote {args.markdown}")
    return rows, checks


if __name__ == "__main__":
    main()
