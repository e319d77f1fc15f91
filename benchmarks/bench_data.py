"""Generation speed of the embedded synth-birds set (images/s), uncached: ``python benchmarks/bench_data.py``."""
import argparse
import time

from a2lib.data.synth_birds import _part_areas, generate_birds


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _part_areas()
    generate_birds(256, args.size, seed=0)  # warm-up
    rates = []
    for r in range(args.repeats):
        start = time.perf_counter()
        generate_birds(args.n, args.size, seed=r)
        rates.append(args.n / (time.perf_counter() - start))
    print(f"synth-birds {args.size}x{args.size}: best {max(rates):.0f} images/s, "
          f"median {sorted(rates)[len(rates) // 2]:.0f} images/s over {args.repeats} runs of {args.n}")


if __name__ == "__main__":
    main()
