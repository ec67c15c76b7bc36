"""What the look's evaluation gives images that no style transfer made: its reference points per pair.

For each pair of ``look.py``, scored exactly as ``look.py`` scores a result (256 px, the network the
runs did not use):

* ``dimmed``: the photo itself, its pixels multiplied by the style's mean brightness over the photo's
  (only when the style is darker). Nothing of the photo's structure is lost, so its content
  similarity is what brightness alone costs on that pair's content target.
* ``direct`` (``--direct``): an image optimised against the evaluator itself (Adam from the photo, the
  loss style ratio + LAMBDA x (1 - content similarity)): how far the two targets can be met at once
  by an image made for the scores, and what such an image looks like.

    python experiments/look/controls.py                          # dimmed photo, all pairs
    python experiments/look/controls.py --pairs 4 --direct 0.5,1 --variant new --figure controls.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import look  # noqa: E402
import sheet_figure  # noqa: E402

from nst.images import read_image, resize_longest, to_tensor  # noqa: E402
from nst.losses import gram_matrix  # noqa: E402
from nst.quality import LOOK_CONTENT_LAYER, LOOK_STYLE_LAYERS, relative_gram_distances  # noqa: E402

FIGURE_HEIGHT = 192


def dimmed(photo: Image.Image, painting: Image.Image) -> Image.Image | None:
    """The photo at the painting's mean brightness, or None when the painting is not darker."""
    factor = to_tensor(painting).mean().item() / to_tensor(photo).mean().item()
    if factor >= 1:
        return None
    return Image.eval(photo, lambda v: round(v * factor))


def direct(
    judge: look.Judge, photo: Image.Image, painting: Image.Image, weight: float, steps: int
) -> Image.Image:
    """An image optimised for the evaluator's two scores (``nst.quality``'s, computed differentiably)."""
    encoder = judge.encoder
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    content, style = to_tensor(photo), to_tensor(painting)
    with torch.no_grad():
        grams = {name: gram_matrix(f) for name, f in encoder(style).items() if name in LOOK_STYLE_LAYERS}
        ours = encoder(content)
        target = ours[LOOK_CONTENT_LAYER].flatten()

    def distance(features: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(relative_gram_distances(features, grams).values())).mean()

    with torch.no_grad():
        photo_distance = distance(ours)
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.02)
    for step in range(steps):
        if step == steps // 2:
            optimizer.param_groups[0]["lr"] = 0.005
        optimizer.zero_grad()
        features = encoder(image.clamp(0, 1))
        similarity = F.cosine_similarity(features[LOOK_CONTENT_LAYER].flatten(), target, dim=0)
        loss = distance(features) / photo_distance + weight * (1 - similarity)
        loss.backward()
        optimizer.step()
    pixels = image.detach().clamp(0, 1)[0].permute(1, 2, 0).mul(255).round().byte().numpy()
    return Image.fromarray(pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=None, help="comma-separated pair indices (default: all)")
    parser.add_argument("--direct", default="", help="comma-separated LAMBDAs: also optimise for the scores")
    parser.add_argument("--steps", type=int, default=400, help="Adam steps per direct image")
    parser.add_argument("--runs", type=Path, default=Path("multirun/look"), help="look.py's --runs (inputs)")
    parser.add_argument("--out", type=Path, default=Path("multirun/look/controls"), help="where images go")
    parser.add_argument("--figure", type=Path, default=None, help="a strip per pair: photo, controls, style")
    parser.add_argument(
        "--variant", default=None, help="also score and show this look.py variant's 256 px result"
    )
    args = parser.parse_args()
    pairs = [int(i) for i in args.pairs.split(",")] if args.pairs else list(range(len(look.PAIRS)))
    weights = [float(w) for w in args.direct.split(",") if w]
    torch.manual_seed(0)
    judge = look.Judge("vgg19")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"Scored at {look.SCORE_SIZE} px by {judge.name} (style ratio / content similarity).\n")
    print("| pair | control | style ratio | content similarity |\n|---|---|---|---|")
    rows = []
    for pair in pairs:
        name = look.Job(pair, look.SCORE_SIZE, "new").name()
        content, style = (look.image_path(p, args.runs / "inputs") for p in look.PAIRS[pair])
        photo = resize_longest(read_image(content), look.SCORE_SIZE)
        painting = judge.painting(style)
        images = {"photo": photo, "dimmed": dimmed(photo, painting)}
        result = look.Job(pair, look.SCORE_SIZE, args.variant).result(args.runs) if args.variant else None
        if result is not None:
            images[f"{args.variant} result"] = Image.open(result).convert("RGB")
        images |= {f"direct {w:g}": direct(judge, photo, painting, w, args.steps) for w in weights}
        cells = []
        for label, image in images.items():
            if image is None:
                print(f"| {name} | {label} | (the style is not darker) | |")
                continue
            path = args.out / f"{name}__{label.replace(' ', '_')}.png"
            image.save(path)
            scores = judge.score(path, content, style)
            print(f"| {name} | {label} | {scores['style_ratio']:.3f} | {scores['content_similarity']:.3f} |")
            caption = f"{label}: {scores['style_ratio']:.2f} / {scores['content_similarity']:.2f}"
            cells.append((sheet_figure.fit(image, FIGURE_HEIGHT), caption))
        rows.append((name, cells + [(sheet_figure.fit(painting, FIGURE_HEIGHT), "style")]))
    if args.figure:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        sheet_figure.sheet(rows, FIGURE_HEIGHT).save(args.figure, quality=88)


if __name__ == "__main__":
    main()
