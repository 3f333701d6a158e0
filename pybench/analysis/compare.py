"""The compare gate: is NEW significantly slower than BASE, per benchmark?

Method, per benchmark present on both sides (matched by name, ``suite/case/impl/device``):

- **Samples** are the per-repetition times (seconds per call) of every run on that side,
  pooled. With ``normalize="torch"`` each pybench sample is first divided by the PyTorch
  baseline of the same case measured in the same run: repetition *i* by the baseline's
  repetition *i* (Google Benchmark's random interleaving runs repetition *i* of every
  benchmark in the same round, so both saw the same phase of a noisy host), or by the
  baseline's median when the repetition counts differ. Host-wide slowdowns (another process
  on the cores, clock changes) scale both and cancel; what is compared is pybench's time
  relative to PyTorch's. The baseline's own rows are then not compared.
- **Change**: ratio of medians, median(NEW) / median(BASE); > 1 is slower. Its confidence
  interval is a percentile bootstrap (both sides resampled independently, 2000 draws,
  fixed seed, so the output is reproducible); with 5-10 samples a side it is coarse.
- **Test**: two-sided Mann-Whitney U on the two sample sets (scipy; exact null
  distribution for small samples without ties). Assumes the samples of a side are
  independent draws from one distribution -- nothing about its shape (timings are
  skewed, so no t-test). With n samples a side the smallest attainable p-value is
  2 / C(2n, n): 0.1 for n = 3, 0.0079 for n = 5, so fewer than 5 repetitions a side can
  never be significant at alpha = 0.01 (the output warns).
- **Classification**, with ``e`` the minimum effect: *slower* when p < alpha and the
  ratio > 1 + e; *faster* when p < alpha and the ratio < 1 / (1 + e); *same* when
  p < alpha but the change is within the minimum effect, or when not significant and the
  whole confidence interval lies within [1 / (1 + e), 1 + e]; otherwise *noisy* (not
  significant, but the data cannot rule out a change larger than ``e``).
- **Gate**: only *slower* fails (exit status 1). Improvements never fail; benchmarks on one
  side only are listed, not failed.

Per-benchmark thresholds come from a TOML file (:func:`load_config`); geometric means of the
ratios are reported per suite and per family (``model`` of a ``model:layer`` case).
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from pybench.results import store as history

__all__ = ["Thresholds", "Rule", "Side", "Comparison", "Result", "compare_samples",
           "load_side", "compare", "load_config", "parse_effect", "format_text",
           "format_markdown", "min_p_value"]

BASELINE = "torch"
BOOTSTRAP_DRAWS = 2000
CONFIDENCE = 0.95


def parse_effect(value: str | float) -> float:
    """``"5%"`` -> 0.05; ``0.05`` -> 0.05; a bare number > 1 is read as percent."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text.removesuffix("%"))
        except ValueError:
            raise ValueError(f"expected a minimum effect such as 5% or 0.05, got {value!r}") \
                from None
        number = number / 100 if text.endswith("%") or number > 1 else number
    else:
        number = float(value)
    if not 0 <= number < 10:  # also NaN
        raise ValueError(f"minimum effect out of range [0, 10): {value!r}")
    return number


@dataclass(frozen=True)
class Thresholds:
    alpha: float = 0.01
    min_effect: float = 0.05
    ignore: bool = False


@dataclass(frozen=True)
class Rule:
    """Per-benchmark thresholds: applies to names matching ``pattern`` (re.search)."""

    pattern: re.Pattern[str]
    overrides: Mapping[str, Any]

    def apply(self, name: str, t: Thresholds) -> Thresholds:
        return replace(t, **self.overrides) if self.pattern.search(name) else t


def load_config(path: str | Path) -> tuple[dict[str, Any], list[Rule]]:
    """Read a TOML thresholds file::

        [defaults]                 # optional; command-line flags override these
        alpha = 0.01
        min_effect = "5%"

        [[case]]                   # any number; every matching rule applies, in order
        match = "conv/.*/pybench/cpu"   # regex searched in the benchmark name
        min_effect = "10%"
        alpha = 0.001
        ignore = true              # list the benchmark but never fail on it

    Returns ``(defaults, rules)``; ValueError naming the problem for a malformed file.
    """
    try:
        data = tomllib.loads(Path(path).read_bytes().decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None

    def fields(table: Any, where: str) -> dict[str, Any]:
        if not isinstance(table, Mapping):
            raise ValueError(f"{path}: {where} is not a table")
        out: dict[str, Any] = {}
        for key, value in table.items():
            if key == "match":
                continue
            if key == "alpha":
                # TOML has nan and inf, and booleans are ints to Python: refuse all three.
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not 0 < value < 1:
                    raise ValueError(f"{path}: {where}: alpha must be a number in (0, 1), "
                                     f"got {value!r}")
                out["alpha"] = float(value)
            elif key == "min_effect":
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise ValueError(f"{path}: {where}: min_effect must be a number or a "
                                     f"percentage, got {value!r}")
                try:
                    out["min_effect"] = parse_effect(value)
                except ValueError as exc:
                    raise ValueError(f"{path}: {where}: {exc}") from None
            elif key == "ignore":
                if not isinstance(value, bool):
                    raise ValueError(f"{path}: {where}: ignore must be true or false, "
                                     f"got {value!r}")
                out["ignore"] = value
            else:
                raise ValueError(f"{path}: {where}: unknown key {key!r} "
                                 "(expected match, alpha, min_effect, ignore)")
        return out

    defaults = fields(data.get("defaults", {}), "[defaults]")
    unknown = set(data) - {"defaults", "case"}
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)} (expected defaults, case)")
    cases = data.get("case", [])
    if not isinstance(cases, list):
        raise ValueError(f"{path}: 'case' must be an array of tables ([[case]])")
    rules = []
    for i, table in enumerate(cases):
        where = f"[[case]] #{i + 1}"
        if not isinstance(table, Mapping) or "match" not in table:
            raise ValueError(f"{path}: {where} has no 'match' regex")
        if not isinstance(table["match"], str):
            raise ValueError(f"{path}: {where}: 'match' must be a string regex")
        try:
            pattern = re.compile(table["match"])
        except (re.error, RecursionError, OverflowError) as exc:
            raise ValueError(f"{path}: {where}: bad regex: {exc}") from None
        rules.append(Rule(pattern, fields(table, where)))
    return defaults, rules


# --- the statistics --------------------------------------------------------------------------

def min_p_value(n: int, m: int) -> float:
    """Smallest two-sided exact Mann-Whitney p-value with n and m samples: 2 / C(n+m, n)."""
    return min(1.0, 2 / math.comb(n + m, n)) if n and m else 1.0


def bootstrap_ratio_ci(base: np.ndarray, new: np.ndarray, confidence: float = CONFIDENCE,
                       draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of median(new) / median(base)."""
    rng = np.random.default_rng(seed)
    mb = np.median(base[rng.integers(0, len(base), (draws, len(base)))], axis=1)
    mn = np.median(new[rng.integers(0, len(new), (draws, len(new)))], axis=1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(mn / mb, [tail, 100 - tail])
    return float(lo), float(hi)


def compare_samples(base: Sequence[float], new: Sequence[float], *, alpha: float = 0.01,
                    min_effect: float = 0.05) -> dict[str, Any]:
    """Ratio of medians, its CI, the Mann-Whitney p-value and the classification (see the
    module docstring) of two sample sets. Non-finite and non-positive samples are dropped."""
    b = np.asarray([x for x in base if x is not None and math.isfinite(x) and x > 0], float)
    n = np.asarray([x for x in new if x is not None and math.isfinite(x) and x > 0], float)
    out: dict[str, Any] = {"n_base": len(b), "n_new": len(n), "ratio": math.nan,
                           "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
    if len(b) == 0 or len(n) == 0:
        out["status"] = "noisy"
        return out
    out["ratio"] = float(np.median(n) / np.median(b))
    if len(b) < 2 or len(n) < 2:
        out["status"] = "noisy"
        return out
    out["ci_low"], out["ci_high"] = bootstrap_ratio_ci(b, n)
    if np.ptp(np.concatenate([b, n])) == 0:
        p = 1.0  # all samples equal: no evidence of a difference (scipy would warn)
    else:
        p = float(stats.mannwhitneyu(n, b, alternative="two-sided").pvalue)
    out["p"] = p
    up, down = 1 + min_effect, 1 / (1 + min_effect)
    ratio = out["ratio"]
    if p < alpha and ratio > up:
        out["status"] = "slower"
    elif p < alpha and ratio < down:
        out["status"] = "faster"
    elif p < alpha or (down <= out["ci_low"] and out["ci_high"] <= up):
        out["status"] = "same"
    else:
        out["status"] = "noisy"
    return out


# --- the sides -------------------------------------------------------------------------------

@dataclass
class Side:
    """The samples of one side (BASE or NEW), by benchmark name, pooled over its runs."""

    runs: list[history.Run]
    samples: dict[str, list[float]] = field(default_factory=dict)
    normalized: dict[str, bool] = field(default_factory=dict)
    meta: dict[str, history.Record] = field(default_factory=dict)
    baselines: set[str] = field(default_factory=set)
    metric: str = "real_time"

    @property
    def machines(self) -> set[str]:
        return {r.machine for r in self.runs}

    @property
    def commits(self) -> set[str]:
        return {r.commit for r in self.runs}

    @property
    def threads(self) -> set[Any]:
        return {r.document["context"].get("pybench", {}).get("threads") for r in self.runs} - {None}


def _normalized(rec: history.Record, base: history.Record) -> list[float]:
    if len(rec.samples) == len(base.samples):
        return [s / b for s, b in zip(rec.samples, base.samples)]
    med = base.median
    return [s / med for s in rec.samples]


def load_side(paths: str | Path | Iterable[str | Path], normalize: str | None = None,
              metric: str = "real_time") -> Side:
    """Load BASE or NEW: result files and/or history directories, pooled by benchmark.
    ``metric``: "real_time" (wall) or "cpu_time" (see pybench.results.store.records)."""
    side = Side(history.load(paths, metric), metric=metric)
    names = ", ".join([str(paths)] if isinstance(paths, (str, Path)) else map(str, paths))
    if not side.runs:
        raise ValueError(f"{names}: no result files in it")
    if not any(r.records for r in side.runs):
        raise ValueError(f"{names}: no timed benchmark in it")
    for run in side.runs:
        by_key = {(r.suite, r.case, r.device, r.implementation): r for r in run.records}
        for rec in run.records:
            values = list(rec.samples)
            norm = False
            if normalize:
                if rec.implementation == normalize:
                    side.baselines.add(rec.name)
                    continue
                ref = by_key.get((rec.suite, rec.case, rec.device, normalize))
                if ref is not None and ref.samples:
                    values, norm = _normalized(rec, ref), True
            side.samples.setdefault(rec.name, []).extend(values)
            side.normalized[rec.name] = side.normalized.get(rec.name, True) and norm
            side.meta.setdefault(rec.name, rec)
    return side


@dataclass
class Result:
    table: pd.DataFrame          # one row per compared benchmark
    only_base: list[str]
    only_new: list[str]
    geomean_suite: pd.DataFrame
    geomean_family: pd.DataFrame
    warnings: list[str]
    normalize: str | None
    metric: str = "real_time"

    @property
    def regressions(self) -> pd.DataFrame:
        return self.table[(self.table["status"] == "slower") & ~self.table["ignored"]]

    @property
    def exit_status(self) -> int:
        return 1 if len(self.regressions) else 0


def _geomean(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    ratio = pd.to_numeric(frame["ratio"], errors="coerce")
    ok = frame.assign(ratio=ratio)[np.isfinite(ratio) & (ratio > 0)]
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "benchmarks", "geomean ratio"])
    g = ok.groupby(keys, sort=True)["ratio"].agg(
        benchmarks="size", **{"geomean ratio": lambda r: float(np.exp(np.log(r).mean()))})
    return g.reset_index()


def compare(base: Side, new: Side, *, thresholds: Thresholds = Thresholds(),
            rules: Sequence[Rule] = (), normalize: str | None = None) -> Result:
    """Compare two loaded sides benchmark by benchmark (see the module docstring)."""
    warnings = []
    if base.machines and new.machines and base.machines != new.machines:
        warnings.append(f"machines differ: BASE {sorted(base.machines)} vs NEW "
                        f"{sorted(new.machines)}: ratios mix machine and code changes")
    if base.threads and new.threads and base.threads != new.threads:
        warnings.append(f"thread counts differ: BASE {sorted(base.threads)} vs NEW "
                        f"{sorted(new.threads)}")
    common = [n for n in new.samples if n in base.samples]
    rows = []
    for name in common:
        t = thresholds
        for rule in rules:
            t = rule.apply(name, t)
        res = compare_samples(base.samples[name], new.samples[name], alpha=t.alpha,
                              min_effect=t.min_effect)
        rec = new.meta[name]
        norm = base.normalized.get(name, False) and new.normalized.get(name, False)
        if normalize and base.normalized.get(name) != new.normalized.get(name):
            warnings.append(f"{name}: normalised on one side only; compared raw")
            res = compare_samples(
                [s for r in base.runs for x in r.records if x.name == name for s in x.samples],
                [s for r in new.runs for x in r.records if x.name == name for s in x.samples],
                alpha=t.alpha, min_effect=t.min_effect)
        rows.append({"benchmark": name, "suite": rec.suite, "family": rec.family,
                     "implementation": rec.implementation, "device": rec.device,
                     "base": float(np.median(base.samples[name])),
                     "new": float(np.median(new.samples[name])), **res,
                     "normalized": norm, "alpha": t.alpha, "min_effect": t.min_effect,
                     "ignored": t.ignore})
    columns = ["benchmark", "suite", "family", "implementation", "device", "base", "new",
               "ratio", "ci_low", "ci_high", "p", "n_base", "n_new", "status", "normalized",
               "alpha", "min_effect", "ignored"]
    table = pd.DataFrame.from_records(rows, columns=columns)
    if not table.empty:
        order = {"slower": 0, "noisy": 1, "faster": 2, "same": 3}
        table = table.assign(_o=table["status"].map(order)).sort_values(
            ["_o", "ratio"], ascending=[True, False], kind="stable").drop(columns="_o")
        table = table.reset_index(drop=True)
        low_power = table[table.apply(
            lambda r: min_p_value(r["n_base"], r["n_new"]) >= r["alpha"], axis=1)]
        if len(low_power):
            n = int(low_power[["n_base", "n_new"]].min().min())
            warnings.append(
                f"{len(low_power)} benchmark(s) have too few samples (down to {n} a side) to "
                f"ever reach p < alpha: run more --repetitions (>= 5 for alpha = 0.01)")
        if normalize and not table["normalized"].all():
            warnings.append(f"{int((~table['normalized']).sum())} benchmark(s) have no "
                            f"{normalize!r} baseline in the same run: compared raw")
    only_base = sorted(set(base.samples) - set(new.samples))
    only_new = sorted(set(new.samples) - set(base.samples))
    keys = ["suite", "implementation", "device"]
    return Result(table, only_base, only_new, _geomean(table, keys),
                  _geomean(table, ["suite", "family", "implementation", "device"]),
                  warnings, normalize, new.metric)


# --- output ------------------------------------------------------------------------------

_MARK = {"slower": "SLOWER", "faster": "faster", "same": "same", "noisy": "noisy"}


def _fmt_value(v: float, normalized: bool) -> str:
    if not math.isfinite(v):
        return "-"
    return f"{v:.3f}x" if normalized else f"{v * 1e3:.4g} ms"


def _rows(result: Result) -> list[list[str]]:
    out = []
    for r in result.table.itertuples(index=False):
        ci = "-" if not math.isfinite(r.ci_low) else f"[{r.ci_low:.3f}, {r.ci_high:.3f}]"
        p = "-" if not math.isfinite(r.p) else f"{r.p:.2g}"
        status = _MARK[r.status] + (" (ignored)" if r.ignored else "")
        out.append([r.benchmark, _fmt_value(r.base, r.normalized), _fmt_value(r.new, r.normalized),
                    "-" if not math.isfinite(r.ratio) else f"{r.ratio:.3f}", ci, p,
                    f"{r.n_base}/{r.n_new}", status])
    return out


_HEADER = ["benchmark", "base", "new", "ratio", "95% CI", "p", "n", "change"]


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _md(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in esc)])


def _geo_rows(frame: pd.DataFrame, keys: list[str]) -> list[list[str]]:
    return [[*(str(r[k]) for k in keys), str(r["benchmarks"]), f"{r['geomean ratio']:.3f}"]
            for _, r in frame.iterrows()]


def _summary_line(result: Result) -> str:
    counts = result.table["status"].value_counts().to_dict() if len(result.table) else {}
    parts = [f"{counts.get(s, 0)} {s}" for s in ("slower", "faster", "same", "noisy")]
    kind = "CPU time" if result.metric == "cpu_time" else "wall time"
    what = (f"{kind} relative to {result.normalize!r} in the same run" if result.normalize
            else f"raw {kind}")
    verdict = (f"FAIL: {len(result.regressions)} significant regression(s)"
               if result.exit_status else "OK: no significant regression")
    return f"{verdict}. {len(result.table)} compared ({', '.join(parts)}); compared: {what}."


def format_text(result: Result) -> str:
    out = [_summary_line(result), "", _plain(_HEADER, _rows(result))]
    if len(result.geomean_suite):
        out += ["", "geomean ratio per suite:",
                _plain(["suite", "impl", "device", "n", "geomean"],
                       _geo_rows(result.geomean_suite, ["suite", "implementation", "device"]))]
    if len(result.geomean_family):
        out += ["", "geomean ratio per family:",
                _plain(["suite", "family", "impl", "device", "n", "geomean"],
                       _geo_rows(result.geomean_family,
                                 ["suite", "family", "implementation", "device"]))]
    if result.only_base:
        out += ["", f"only in BASE ({len(result.only_base)}, not compared):",
                *("  " + n for n in result.only_base)]
    if result.only_new:
        out += ["", f"only in NEW ({len(result.only_new)}, not compared):",
                *("  " + n for n in result.only_new)]
    out += [f"warning: {w}" for w in result.warnings]
    return "\n".join(out)


def format_markdown(result: Result, title: str = "pybench compare") -> str:
    out = [f"## {title}", "", f"**{_summary_line(result)}**", "", _md(_HEADER, _rows(result))]
    if len(result.geomean_suite):
        out += ["", "### Geomean ratio per suite", "",
                _md(["suite", "impl", "device", "n", "geomean"],
                    _geo_rows(result.geomean_suite, ["suite", "implementation", "device"]))]
    if len(result.geomean_family):
        out += ["", "### Geomean ratio per family", "",
                _md(["suite", "family", "impl", "device", "n", "geomean"],
                    _geo_rows(result.geomean_family, ["suite", "family", "implementation",
                                                      "device"]))]
    for label, names in (("BASE", result.only_base), ("NEW", result.only_new)):
        if names:
            out += ["", f"Only in {label} (not compared): " + ", ".join(f"`{n}`" for n in names)]
    out += ["", *(f"> warning: {w}" for w in result.warnings)] if result.warnings else []
    return "\n".join(out) + "\n"
