"""How long content keys take on a large manifest (issue: ≤ 5 s to check an unchanged 100,000-image one).

Writes N small image files (random bytes: the digest never decodes them) and a CSV manifest into a
temp folder, then times, each in a fresh `DigestIndex` read from disk as a new `bench run` would:

1. the first check (every file hashed, the index written),
2. the check of the unchanged manifest (one stat per file),
3. the check after one image is overwritten (one file hashed again).

    python scripts/measure_content_keys.py --n 100000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vlpbench.core.fingerprint import INDEX_NAME, DigestIndex
from vlpbench.datasets.manifest import manifest_files


def check(manifest: Path, index_path: Path) -> tuple[float, str]:
    """Seconds for one content check of `manifest` as a fresh process does it, and its digest."""
    start = time.perf_counter()
    digest = DigestIndex(index_path).files(manifest_files(manifest))
    return time.perf_counter() - start, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of images")
    parser.add_argument("--bytes", type=int, default=4096, help="size of each image file")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "images").mkdir()
        names = [f"images/{i:06d}.png" for i in range(args.n)]
        for name in names:
            (root / name).write_bytes(rng.bytes(args.bytes))
        manifest = root / "pairs.csv"
        pd.DataFrame({"image": names, "report": ["视网膜出血"] * args.n}).to_csv(manifest, index=False)
        index_path = root / "runs" / INDEX_NAME
        cold, first = check(manifest, index_path)
        unchanged, second = check(manifest, index_path)
        target = root / names[args.n // 2]
        target.write_bytes(rng.bytes(args.bytes))
        os.utime(target, ns=(time.time_ns(), time.time_ns()))
        edited, third = check(manifest, index_path)
    assert first == second != third
    print(f"{args.n} images of {args.bytes} B, index {index_path.name}:")
    print(f"  first check (hash every file):        {cold:6.2f} s")
    print(f"  unchanged manifest (stat every file): {unchanged:6.2f} s   (target <= 5 s)")
    print(f"  one image overwritten:                {edited:6.2f} s")


if __name__ == "__main__":
    main()
