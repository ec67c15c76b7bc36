"""DIS optical-flow presets at 256 px: milliseconds per flow and endpoint error on a synthetic shift
(a crop of the Tubingen photograph moved by a known number of pixels). Chose video.flow_preset.

    OMP_NUM_THREADS=1 python experiments/video/flow_presets.py
"""

import time

from nst.assets import resolve
from nst.images import read_image, resize_longest, to_tensor
from nst.video.flow import dis_flow

img = to_tensor(resize_longest(read_image(resolve("tubingen")), 300))
H, W = 192, 256
for dx, dy in [(3, 2), (7, -4)]:
    a = img[..., 20 : 20 + H, 20 : 20 + W]
    b = img[..., 20 - dy : 20 - dy + H, 20 - dx : 20 - dx + W]  # b(x) = a(x - d): content moved by +d
    for preset in ["ultrafast", "fast", "medium"]:
        dis_flow(a, b, preset)
        t = time.perf_counter()
        n = 10
        for _ in range(n):
            f = dis_flow(a, b, preset)  # a towards b: a(x) = b(x + d)
        ms = (time.perf_counter() - t) / n * 1000
        m = 16
        epe = ((f[m:-m, m:-m, 0] - dx) ** 2 + (f[m:-m, m:-m, 1] - dy) ** 2).sqrt().mean()
        print(f"shift ({dx},{dy}) {preset:9s} {ms:6.1f} ms/flow  EPE {epe:.3f} px (interior)")
