"""Statistics of measured durations, as the lab prints them."""
import statistics


def summary(values):
    """'median M s, p90 P s, max X s (n=N)' of durations in seconds."""
    if not values:
        return "n/a"
    v = sorted(values)
    p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
    return f"median {statistics.median(v):.2f} s, p90 {p90:.2f} s, max {v[-1]:.2f} s (n={len(v)})"
