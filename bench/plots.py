"""Plots of the benchmarks (matplotlib, from requirements-bench.txt): sends per 100 ms against the limit."""

from __future__ import annotations

from pathlib import Path


def _per_100ms(stamps: list[float]) -> list[int]:
    """Counts per 100 ms from the first stamp (sorted stamps)."""
    start = stamps[0]
    buckets = [0] * (int((stamps[-1] - start) / 0.1) + 1)
    for stamp in stamps:
        buckets[int((stamp - start) / 0.1)] += 1
    return buckets


def _sliding_second(stamps: list[float]) -> list[int]:
    """For each (sorted) stamp, how many stamps lie in the second that ends with it."""
    sliding, left = [], 0
    for right, stamp in enumerate(stamps):
        while stamp - stamps[left] >= 1.0:
            left += 1
        sliding.append(right - left + 1)
    return sliding


def plot_throughput(stamps: list[float], rate_per_second: float, path: Path, title: str) -> None:
    """A bar per 100 ms of the provider's receive times, from the first, with the limit per 100 ms and the
    sliding-second count against the limit per second."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    if not stamps:
        return
    start = stamps[0]
    buckets, sliding = _per_100ms(stamps), _sliding_second(stamps)
    figure, (per_100ms, per_second) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    per_100ms.bar([i * 0.1 for i in range(len(buckets))], buckets, width=0.1, align="edge", color="#2e7d32")
    per_100ms.axhline(
        rate_per_second / 10, color="#c62828", linestyle="--", label=f"{rate_per_second / 10:g} per 100 ms"
    )
    per_100ms.set_ylabel("sends per 100 ms")
    per_100ms.legend(loc="upper right")
    per_100ms.set_title(f"{title}: {len(stamps)} sends")
    per_second.plot([s - start for s in stamps], sliding, color="#1f5fbf", linewidth=1)
    per_second.axhline(rate_per_second, color="#c62828", linestyle="--", label=f"limit {rate_per_second:g}/s")
    per_second.set_ylabel("sends in the last 1 s")
    per_second.set_xlabel("seconds since the first send")
    per_second.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_side_by_side(series: dict[str, list[float]], rate_per_second: float, path: Path, title: str) -> None:
    """Sends per 100 ms of each system (a row each) and their sliding-second counts on one chart below,
    each from its own first send, against the limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = {name: stamps for name, stamps in series.items() if stamps}
    if not named:
        return
    colours = ["#2e7d32", "#6a1b9a", "#ef6c00"]
    figure, axes = plt.subplots(len(named) + 1, 1, figsize=(10, 3 * (len(named) + 1)), sharex=True)
    sliding_axis = axes[-1]
    for (name, stamps), axis, colour in zip(named.items(), axes, colours, strict=False):
        start, buckets = stamps[0], _per_100ms(stamps)
        axis.bar([i * 0.1 for i in range(len(buckets))], buckets, width=0.1, align="edge", color=colour)
        axis.axhline(
            rate_per_second / 10, color="#c62828", linestyle="--", label=f"{rate_per_second / 10:g} per 100 ms"
        )
        axis.set_ylabel("sends per 100 ms")
        axis.set_title(f"{name}: {len(stamps)} sends")
        axis.legend(loc="upper right")
        sliding_axis.plot([s - start for s in stamps], _sliding_second(stamps), color=colour, linewidth=1, label=name)
    sliding_axis.axhline(rate_per_second, color="#c62828", linestyle="--", label=f"limit {rate_per_second:g}/s")
    sliding_axis.set_ylabel("sends in the last 1 s")
    sliding_axis.set_xlabel("seconds since each system's first send")
    sliding_axis.legend(loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
