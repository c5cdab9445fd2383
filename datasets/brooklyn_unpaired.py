"""Build an unpaired CycleGAN set with ground truth from brooklyn1887 (no pair is ever seen together).

    python datasets/brooklyn_unpaired.py ../shared/datasets/brooklyn1887 data/brooklyn-unpaired

- trainA/: label maps from every other labeled pair of train/ (even positions in name order);
- trainB/: atlas tiles of the other labeled pairs (odd positions), of the pairs whose label half is
  blank (their labels never enter trainA), and of the 432 unlabeled/ tiles;
- val/: the 29 held-out pairs of val/, copied unchanged (aligned A|B), for `translate eval`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from translate.data.images import list_images, read_image, save_image  # noqa: E402
from translate.data.paired import is_blank  # noqa: E402


def build(source: Path, target: Path) -> dict[str, int]:
    for split in ("train", "val", "unlabeled"):
        if not (source / split).is_dir():
            sys.exit(f"error: {source / split} is missing; expected the brooklyn1887 folder (train/ val/ unlabeled/)")
    for folder in ("trainA", "trainB", "val"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    labeled, counts = 0, {"trainA": 0, "trainB": 0, "val": 0}
    for path in list_images(source / "train"):
        pair = read_image(path)
        half = pair.shape[1] // 2
        label, tile = pair[:, :half], pair[:, half:]
        if is_blank(label):
            side, image = "trainB", tile
        else:
            side, image = ("trainA", label) if labeled % 2 == 0 else ("trainB", tile)
            labeled += 1
        save_image(image, target / side / f"train_{path.stem}.png")
        counts[side] += 1
    for path in list_images(source / "unlabeled"):
        pair = read_image(path)
        save_image(pair[:, pair.shape[1] // 2:], target / "trainB" / f"unlabeled_{path.stem}.png")
        counts["trainB"] += 1
    for path in list_images(source / "val"):
        shutil.copy(path, target / "val" / path.name)
        counts["val"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the brooklyn1887 folder")
    parser.add_argument("target", type=Path, help="where to write trainA/ trainB/ val/")
    args = parser.parse_args()
    counts = build(args.source, args.target)
    print(" ".join(f"{k}={v}" for k, v in counts.items()), f"→ {args.target}")


if __name__ == "__main__":
    main()
