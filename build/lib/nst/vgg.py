"""The VGG table, written once: blocks, channel widths and layer names (no torch needed).

Two naming conventions are accepted and mapped onto one canonical form:

* paper names: ``conv1_1``, ``relu1_1``, ..., ``pool1`` ... ``pool5`` (canonical);
* course/tutorial names: ``conv_N`` / ``relu_N`` for the N-th convolution of the network and
  ``pool_N`` for the N-th pooling layer (so ``conv_4`` is ``conv2_2``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nst.errors import NSTError

# Convolutions per block: the only difference between the VGG variants used here.
BLOCKS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BLOCK_WIDTHS = (64, 128, 256, 512, 512)  # output channels of every conv in a block


def conv_widths(arch: str) -> list[int]:
    """Output channels of each conv layer of ``arch``, in network order."""
    return [width for width, n_convs in zip(BLOCK_WIDTHS, BLOCKS[arch]) for _ in range(n_convs)]


def layer_names(arch: str) -> list[str]:
    """Canonical names of every layer of ``arch`` in network order."""
    names = []
    for block, n_convs in enumerate(BLOCKS[arch], start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def _conv_positions(arch: str) -> list[tuple[int, int]]:
    return [(b, i) for b, n in enumerate(BLOCKS[arch], start=1) for i in range(1, n + 1)]


def valid_names_hint(arch: str) -> str:
    n_convs, last_block, last_conv = sum(BLOCKS[arch]), len(BLOCKS[arch]), BLOCKS[arch][-1]
    return (
        f"conv_1..conv_{n_convs}, relu_1..relu_{n_convs}, pool_1..pool_{last_block}, "
        f"conv1_1..conv{last_block}_{last_conv}, relu1_1..relu{last_block}_{last_conv}, "
        f"pool1..pool{last_block}"
    )


def canonical_layer(name: str, arch: str, backbone: str | None = None) -> str:
    """Map either naming convention to the canonical paper name, or fail with the valid names."""
    label = backbone or arch
    name = str(name).strip()
    if name in layer_names(arch):
        return name
    match = re.fullmatch(r"(conv|relu|pool)_(\d+)", name)
    if match:
        kind, number = match.group(1), int(match.group(2))
        positions = _conv_positions(arch)
        count = len(BLOCKS[arch]) if kind == "pool" else len(positions)
        if 1 <= number <= count:
            if kind == "pool":
                return f"pool{number}"
            block, index = positions[number - 1]
            return f"{kind}{block}_{index}"
        raise NSTError(
            f"layer '{name}' does not exist on {label}: {arch.upper()[:3]}-{arch[3:]} has "
            f"{count} {'pooling' if kind == 'pool' else 'conv'} layers "
            f"({kind}_1..{kind}_{count}); valid names: {valid_names_hint(arch)}"
        )
    raise NSTError(f"unknown layer '{name}' for {label}; valid names: {valid_names_hint(arch)}")


def canonical_layers(names: Sequence[str], arch: str, backbone: str | None = None) -> list[str]:
    """Canonical names in the order given, each once."""
    return list(dict.fromkeys(canonical_layer(name, arch, backbone) for name in names))


def pools_before(layer: str, arch: str) -> int:
    """How many 2x poolings the input has gone through when it reaches ``layer`` (canonical)."""
    order = layer_names(arch)
    return sum(1 for name in order[: order.index(layer) + 1] if name.startswith("pool"))


def min_input_size(layers: Sequence[str], arch: str) -> int:
    """Smallest edge in pixels for which every requested (canonical) layer has at least 1x1 output."""
    return 2 ** max((pools_before(layer, arch) for layer in layers), default=0)


def too_deep(layers: Sequence[str], arch: str, edge: int) -> list[str]:
    """The (canonical) layers whose output would be empty for an input edge of ``edge`` px."""
    return [layer for layer in layers if 2 ** pools_before(layer, arch) > edge]


def deepest(layers: Sequence[str], arch: str) -> str:
    order = layer_names(arch)
    return max(layers, key=order.index)
