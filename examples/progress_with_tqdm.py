"""A progress bar over a fan-out of cpu_bound calls, with as_completed."""

import sys

from tqdm import tqdm

from unsync import as_completed, unsync


@unsync(cpu_bound=True)
def simulate(seed: int) -> int:
    total = 0
    for i in range(20_000):
        total = (total * 31 + seed + i) % 1_000_003
    return total


if __name__ == "__main__":
    calls = [simulate(seed) for seed in range(40)]
    results = [f.result() for f in tqdm(as_completed(calls), file=sys.stderr)]
    print("simulations done", len(results))
