"""The claims of the course report (../shared/seed), one function per claim in the report's order, then
the style_statistics study's: Heitz et al.'s (g) and the report's (c) under each statistic (h).

Each judges its claim on the numbers the study sections returned (the summary: report_from_noise,
report_transfer), by the rule written next to it as a list of checks (report_verdicts).
"""

from __future__ import annotations

import math
from typing import Any

from report_verdicts import Check, Claim


def claim_content_layers(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "a", "content_layers", "shallow content layers reconstruct the photo near-perfectly, deep ones do not"
    )
    if not (s := summary.get("content_layers")):
        return claim
    groups = s["jobs"]
    psnrs, ssims = [s[g]["psnr_db"] for g in groups], [s[g]["ssim"] for g in groups]
    rises = [(psnrs[i + 1] - psnrs[i], groups[i], groups[i + 1]) for i in range(len(groups) - 1)]
    rise, shallower, deeper = max(rises, default=(0.0, "", ""))
    claim.numbers = {"groups": groups, "psnr_db": psnrs, "ssim": ssims}
    claim.measured = "PSNR dB (SSIM) shallow to deep: " + ", ".join(
        f"{p:.1f} ({q:.2f})" for p, q in zip(psnrs, ssims)
    )
    claim.checks = [
        Check(
            f"PSNR({groups[0]}) > PSNR({groups[-1]}) + 5 dB",
            psnrs[0] > psnrs[-1] + 5,
            f"{groups[0]} is only {psnrs[0] - psnrs[-1]:.1f} dB above {groups[-1]}",
            core=True,
        ),
        Check(
            f"PSNR({groups[0]}) >= 25 dB (near-perfect)",
            psnrs[0] >= 25,
            f"{groups[0]} reaches {psnrs[0]:.1f} dB, not near-perfect (< 25 dB)",
        ),
        Check(
            "PSNR never rises by more than 0.5 dB from a group to the next deeper one",
            rise <= 0.5,
            f"PSNR rises {rise:.1f} dB from {shallower} to {deeper}",
        ),
    ]
    return claim


def claim_content_seeds(summary: dict[str, Any]) -> Claim:
    claim = Claim("b", "content_seeds", "two seeds of a content reconstruction differ only by noise")
    if not (s := summary.get("content_seeds")):
        return claim
    a, b = s["jobs"][:2]
    pa, pb, between = s[a]["psnr_db"], s[b]["psnr_db"], s["psnr_between_seeds_db"]
    la, lb = s[a]["content_loss"], s[b]["content_loss"]
    # If each result is the photo plus its own independent noise of equal power, the two noises add
    # between the results: PSNR(a, b) = mean PSNR to the photo - 10 log10(2) = -3.0 dB.
    expected = (pa + pb) / 2 - 10 * math.log10(2)
    loss_ratio = max(la, lb) / max(min(la, lb), 1e-12)
    drops = [s[a].get("content_loss_drop_last_third"), s[b].get("content_loss_drop_last_third")]
    lagging, leading = (b, a) if lb > la else (a, b)
    stall_why = (
        f"{lagging} stalled: final content loss {max(la, lb):.3g} vs {min(la, lb):.3g} ({loss_ratio:.1f}x)"
    )
    if None not in drops:
        shed = s[lagging]["content_loss_drop_last_third"], s[leading]["content_loss_drop_last_third"]
        stall_why += f", shedding {shed[0]:.0%} of it over the last third of the steps vs {shed[1]:.0%}"
    claim.numbers = {
        "psnr_to_photo_db": [pa, pb],
        "psnr_between_seeds_db": between,
        "psnr_between_if_independent_noise_db": expected,
        "content_loss": [la, lb],
        "content_loss_ratio": loss_ratio,
        "content_loss_drop_last_third": drops,
    }
    claim.measured = (
        f"PSNR to photo {pa:.1f} / {pb:.1f} dB; between seeds {between:.1f} dB (independent noise: "
        f"{expected:.1f}); final content loss {la:.3g} / {lb:.3g} ({loss_ratio:.1f}x)"
    )
    claim.checks = [
        Check(
            "|PSNR(seed a) - PSNR(seed b)| <= 1 dB",
            abs(pa - pb) <= 1,
            f"the seeds' PSNRs to the photo differ by {abs(pa - pb):.1f} dB",
            core=True,
        ),
        Check(
            "PSNR between seeds = mean PSNR to photo - 3.0 dB, +-1.5 dB (independent noise)",
            abs(between - expected) <= 1.5,
            f"PSNR between seeds {between:.1f} dB vs {expected:.1f} dB for independent noise: the seeds "
            + ("share their errors" if between > expected else "differ by more than noise"),
            core=True,
        ),
        Check(
            "each seed >= 20 dB from the photo (almost exact)",
            min(pa, pb) >= 20,
            f"PSNR to the photo only {min(pa, pb):.1f} / {max(pa, pb):.1f} dB: not almost exact",
        ),
        Check(
            "final content losses within 2x (no seed stalled or lagged)",
            loss_ratio <= 2,
            stall_why,
        ),
    ]
    return claim


REPORT_STYLE_GROUP = "conv_1..conv_4"  # the course report's style layers, a job of texture_layers


def claim_texture_layers(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "c",
        "texture_layers",
        f"texture from the first two blocks, {REPORT_STYLE_GROUP}, is closest to the style",
    )
    if not (s := summary.get("texture_layers")) or REPORT_STYLE_GROUP not in s["jobs"]:
        return claim
    mean = {name: s[name]["mean"] for name in s["jobs"]}
    noise = s["white_noise"]["mean"]
    first_two = [name for name in s["jobs"] if name != REPORT_STYLE_GROUP][:2]  # sweep order: shallow first
    best, worst = min(mean, key=mean.__getitem__), max(mean, key=mean.__getitem__)
    choice = mean[REPORT_STYLE_GROUP]
    claim.numbers = {"gram_distance": mean, "white_noise": noise, "best": best}
    claim.measured = (
        f"mean Gram distance to the style: {REPORT_STYLE_GROUP} {choice:.3f}; closest {best} "
        f"{mean[best]:.3f}; farthest {worst} {mean[worst]:.3f}; white noise {noise:.3f}"
    )
    claim.checks = [
        Check(
            f"the closest group is {', '.join(first_two)} or {REPORT_STYLE_GROUP}",
            best in [*first_two, REPORT_STYLE_GROUP],
            f"the closest group is {best}, deeper than the first two blocks",
            core=True,
        ),
        Check(
            f"Gram({REPORT_STYLE_GROUP}) <= 1.05 x the closest group's",
            choice <= 1.05 * mean[best],
            f"{REPORT_STYLE_GROUP} ({choice:.3f}) is not the closest: {best} ({mean[best]:.3f})",
        ),
        Check(
            f"Gram({REPORT_STYLE_GROUP}) < 0.5 x white noise's",
            choice < 0.5 * noise,
            f"{REPORT_STYLE_GROUP} ({choice:.3f}) is not clearly closer than white noise ({noise:.3f})",
        ),
    ]
    return claim


def claim_texture_seeds(summary: dict[str, Any]) -> Claim:
    claim = Claim("d", "texture_seeds", "two seeds of a texture are globally similar and locally different")
    if not (s := summary.get("texture_seeds")):
        return claim
    a, b = s["jobs"][:2]
    da, db = s[a]["gram_distance_to_style"], s[b]["gram_distance_to_style"]
    noise, between = s["gram_distance_white_noise_to_style"], s["gram_distance_between_seeds"]
    pixels, pixels_noise = s["pixel_mean_abs_difference"], s["pixel_mean_abs_difference_white_noise_starts"]
    claim.numbers = {
        "gram_distance_to_style": [da, db],
        "gram_distance_white_noise_to_style": noise,
        "gram_distance_between_seeds": between,
        "pixel_mean_abs_difference": pixels,
        "pixel_mean_abs_difference_white_noise_starts": pixels_noise,
    }
    claim.measured = (
        f"Gram to style {da:.3f} / {db:.3f}, between seeds {between:.3f} (white noise {noise:.3f}); "
        f"pixel difference {pixels:.3f} (two noise starts {pixels_noise:.3f})"
    )
    claim.checks = [
        Check(
            "globally similar: Gram of each seed to the style and between the seeds < 0.5 x white noise's",
            max(da, db, between) < 0.5 * noise,
            f"Gram distances {da:.3f}, {db:.3f}, {between:.3f} not all below half of noise's {noise:.3f}",
            core=True,
        ),
        Check(
            "locally different: pixel difference > 0.3 x that of the two white-noise starts",
            pixels > 0.3 * pixels_noise,
            f"pixel difference {pixels:.3f} is small against the noise starts' {pixels_noise:.3f}",
            core=True,
        ),
        Check(
            "the seeds' Gram distances to the style within 20% of each other",
            abs(da - db) <= 0.2 * max(da, db),
            f"one seed is much closer to the style ({da:.3f} vs {db:.3f})",
        ),
    ]
    return claim


def claim_init(summary: dict[str, Any]) -> Claim:
    claim = Claim("e", "init", "content init beats noise init at equal time")
    if not (s := summary.get("init")) or not {"content", "noise"} <= set(s["jobs"]):
        return claim
    c, n = s["content"], s["noise"]
    time_ratio = max(c["wall_seconds"], n["wall_seconds"]) / max(
        min(c["wall_seconds"], n["wall_seconds"]), 1e-9
    )
    claim.numbers = {"content": c, "noise": n, "time_ratio": time_ratio}
    claim.measured = (
        f"total loss {c['total']:.3g} (content init) vs {n['total']:.3g} (noise); content loss "
        f"{c['content']:.3g} vs {n['content']:.3g}; {c['wall_seconds']:.1f} vs {n['wall_seconds']:.1f} s"
    )
    claim.checks = [
        Check(
            "total loss(content init) < total loss(noise init)",
            c["total"] < n["total"],
            f"noise init ends lower ({n['total']:.3g} vs {c['total']:.3g})",
            core=True,
        ),
        Check(
            "seconds within 1.25x (equal time)",
            time_ratio <= 1.25,
            f"the runs took {c['wall_seconds']:.1f} vs {n['wall_seconds']:.1f} s, not equal time",
        ),
        Check(
            "content loss(noise init) > content loss(content init) (noise init shows less content)",
            n["content"] > c["content"],
            f"noise init keeps as much content ({n['content']:.3g} vs {c['content']:.3g})",
        ),
    ]
    return claim


def claim_gallery(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "f",
        "gallery",
        "the report's setting (content conv_3+conv_4, style conv_1..conv_4, starter weights) "
        "gives recognisable stylised images",
    )
    if not (s := summary.get("gallery")):
        return claim
    jobs, setting = s["jobs"], s["setting"]
    # Recognisable: SSIM to its own photo above SSIM to the gallery's other photo. Stylised: closer to
    # its style (Gram) than the photo is. Its style: closer to it than to any other gallery style.
    recognised = [
        j for j in jobs if (o := s[j]["ssim_to_other_photos"]) is not None and s[j]["ssim_to_photo"] > o
    ]
    stylised = [j for j in jobs if s[j]["gram_distance_to_style"] < s[j]["gram_distance_photo_to_style"]]
    own_style = [
        j
        for j in jobs
        if (o := s[j]["gram_distance_to_other_styles"]) is None or s[j]["gram_distance_to_style"] < o
    ]
    used = {key: setting[key] for key in ("content_layers", "style_layers")}
    report = setting["report_layers"]
    same_layers = used == report

    def mean(key: str) -> float:
        return sum(s[j][key] for j in jobs) / len(jobs)

    claim.numbers = {
        "jobs": len(jobs),
        "recognised": len(recognised),
        "stylised": len(stylised),
        "nearest_own_style": len(own_style),
        "mean_psnr_to_photo_db": mean("psnr_to_photo_db"),
        "mean_ssim_to_photo": mean("ssim_to_photo"),
        "layers": used,
        "report_layers": setting["report_layers"],
        "style_weight": setting["style_weight"],
    }
    n = len(jobs)
    claim.measured = (
        f"{len(recognised)}/{n} nearer (SSIM) their own photo than the other, {len(stylised)}/{n} nearer "
        f"(Gram) their style than the photo is, {len(own_style)}/{n} nearest their own style; mean PSNR "
        f"to photo {mean('psnr_to_photo_db'):.1f} dB, SSIM {mean('ssim_to_photo'):.2f}; layers "
        f"{', '.join(used['content_layers'])} / {', '.join(used['style_layers'])}"
    )
    claim.checks = [
        Check(
            "every result is nearer (SSIM) its own photo than the other photo",
            len(recognised) == n,
            f"only {len(recognised)}/{n} results are nearer their own photo",
            core=True,
        ),
        Check(
            "every result is nearer (Gram) its style than its photo is",
            len(stylised) == n,
            f"only {len(stylised)}/{n} results moved toward their style",
            core=True,
        ),
        Check(
            ">= 3/4 of the results are nearest (Gram) their own style among the gallery's",
            len(own_style) >= 0.75 * n,
            f"only {len(own_style)}/{n} results are nearest their own style",
        ),
        Check(
            "the gallery runs the report's layers (conf/layers/report.yaml)",
            same_layers,
            f"the gallery runs {', '.join(used['content_layers'])} / {', '.join(used['style_layers'])}, "
            f"not the report's {', '.join(report['content_layers'])} / {', '.join(report['style_layers'])} "
            f"(style_weight {setting['style_weight']:g})",
        ),
    ]
    return claim


GATYS_LAYERS = "relu1_1..relu5_1"  # the style_statistics study's two layer sets (report_statistics)
NEUTRAL_YARDSTICKS = ("mean_std", "w2")  # neither the Gram's nor the sliced Wasserstein's own statistic


def claim_sliced_wasserstein(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "g",
        "style_statistics",
        "(Heitz et al., CVPR 2021) the sliced Wasserstein loss reproduces an exemplar's texture better "
        "than the Gram loss",
    )
    if not (s := summary.get("style_statistics")):
        return claim
    table = s["cross_evaluation"]
    if not all(
        {"gram", "sliced_wasserstein"} <= table.get(layers, {}).keys()
        for layers in (GATYS_LAYERS, REPORT_STYLE_GROUP)
    ):
        return claim

    def beats(layers: str, yardsticks: tuple[str, ...], rows: dict[str, Any] | None = None) -> bool:
        rows = rows or table[layers]
        return all(rows["sliced_wasserstein"][y] < rows["gram"][y] for y in yardsticks)

    styles = s["styles"]
    per_style = s["cross_evaluation_per_style"]
    lost = [
        style
        for style in styles
        if not beats(
            GATYS_LAYERS,
            NEUTRAL_YARDSTICKS,
            {
                name: per_style[f"{name} / {GATYS_LAYERS} / {style}"]
                for name in ("gram", "sliced_wasserstein")
            },
        )
    ]
    sw, gram = table[GATYS_LAYERS]["sliced_wasserstein"], table[GATYS_LAYERS]["gram"]
    claim.numbers = {
        layers: {n: table[layers][n] for n in ("gram", "sliced_wasserstein")} for layers in table
    }
    claim.numbers["styles_where_gram_wins"] = lost
    claim.measured = (
        f"on {GATYS_LAYERS}, distance vs white noise, sliced Wasserstein's result / Gram's: "
        + ", ".join(f"{y} {sw[y]:.2f} / {gram[y]:.2f}" for y in sw if y != "layout")
        + (
            f"; layout r (copy of the exemplar's composition) {sw['layout']:.2f} / {gram['layout']:.2f}"
            if "layout" in sw
            else ""
        )
    )
    neutral = " and ".join(NEUTRAL_YARDSTICKS)
    claim.checks = [
        Check(
            f"on {GATYS_LAYERS}, its result is closer to the style than Gram's by {neutral} (neither loss "
            "optimises them), averaged over styles and seeds",
            beats(GATYS_LAYERS, NEUTRAL_YARDSTICKS),
            f"on {GATYS_LAYERS}, Gram's result is as close or closer by {neutral}",
            core=True,
        ),
        Check(
            f"on {GATYS_LAYERS}, closer than Gram's by sliced Wasserstein with fixed directions no run drew",
            beats(GATYS_LAYERS, ("sliced_wasserstein",)),
            f"on {GATYS_LAYERS}, Gram's result is as close by the sliced Wasserstein yardstick itself",
            core=True,
        ),
        Check(
            f"the same by {neutral} on {REPORT_STYLE_GROUP}",
            beats(REPORT_STYLE_GROUP, NEUTRAL_YARDSTICKS),
            f"on {REPORT_STYLE_GROUP}, Gram's result is as close or closer by {neutral}",
        ),
        Check(
            f"on {GATYS_LAYERS}, closer by {neutral} for each style (paintings, photographed texture)",
            not lost,
            f"Gram's result is as close by {neutral} for {', '.join(lost)}",
        ),
    ]
    return claim


def claim_texture_layers_by_statistic(summary: dict[str, Any]) -> Claim:
    claim = Claim(
        "h",
        "style_statistics",
        f"(c) under each style statistic: texture from {REPORT_STYLE_GROUP} is closer to the style than from "
        f"{GATYS_LAYERS} (only these two layer sets are run; scored at {GATYS_LAYERS}, the Gatys run's own "
        "layers)",
    )
    if not (s := summary.get("style_statistics")):
        return claim
    table = s["cross_evaluation"]
    if not {REPORT_STYLE_GROUP, GATYS_LAYERS} <= table.keys():
        return claim
    names = [name for name in table[REPORT_STYLE_GROUP] if name in table[GATYS_LAYERS]]
    ours = {name: table[REPORT_STYLE_GROUP][name][name] for name in names}
    theirs = {name: table[GATYS_LAYERS][name][name] for name in names}
    claim.numbers = {REPORT_STYLE_GROUP: ours, GATYS_LAYERS: theirs}
    claim.measured = (
        f"own-statistic distance vs white noise, {REPORT_STYLE_GROUP} / {GATYS_LAYERS}: "
        + ", ".join(f"{name} {ours[name]:.2f} / {theirs[name]:.2f}" for name in names)
    )
    claim.checks = [
        Check(
            f"{name}: {REPORT_STYLE_GROUP}'s result closer than {GATYS_LAYERS}'s by {name}",
            ours[name] < theirs[name],
            f"{name}: {GATYS_LAYERS} is closer ({theirs[name]:.2f} vs {ours[name]:.2f})",
            core=name == "gram",  # the course report's own statistic
        )
        for name in names
    ]
    return claim


CLAIMS = [
    claim_content_layers,
    claim_content_seeds,
    claim_texture_layers,
    claim_texture_seeds,
    claim_init,
    claim_gallery,
    claim_sliced_wasserstein,
    claim_texture_layers_by_statistic,
]
