"""The backtest report's figures (matplotlib, Agg), each returned as (caption, PNG data URI).

Take all and filtered are drawn in different colours AND styles (solid vs dashed with markers, the filtered
line on top), so both stay visible where they coincide."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from ivcrush.reports import embed_figure

# line styles: keyword arguments of Axes.step (matplotlib types its **kwargs as Any)
TAKE_ALL: dict[str, Any] = {"color": "#1f4e9c", "lw": 2.4, "ls": "-", "alpha": 0.85}
FILTERED: dict[str, Any] = {"color": "#e8741b", "lw": 1.6, "ls": "--", "marker": "o", "ms": 4}
RULE_STYLES: tuple[dict[str, Any], ...] = (
    {"color": "#1f4e9c", "ls": "-"},
    {"color": "#2a9d4b", "ls": "--"},
    {"color": "#c2362b", "ls": ":"},
)


def _done(fig: plt.Figure) -> str:
    uri = embed_figure(fig)
    plt.close(fig)
    return uri


def _curve(frame: pd.DataFrame, pnl: str = "pnl") -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=float)
    ordered = frame.sort_values("exit_date", kind="stable")
    return ordered.groupby(pd.to_datetime(ordered["exit_date"]))[pnl].sum().cumsum()


def _equity(ax: plt.Axes, frame: pd.DataFrame, title: str) -> None:
    for label, part, style in (
        ("take all", frame, TAKE_ALL),
        ("filtered", frame[frame["taken"].astype(bool)], FILTERED),
    ):
        curve = _curve(part)
        if not curve.empty:
            ax.step(curve.index, curve.to_numpy(), where="post", label=f"{label} (${curve.iloc[-1]:,.0f})", **style)
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("cumulative P&L, $")
    ax.legend(loc="best", fontsize=8)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)


def journal(result: dict) -> list[tuple[str, str]]:
    campaigns = result["campaigns"]
    compared = campaigns[campaigns["policy_live"]]
    out = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    _equity(axes[0], compared[compared["crosses_earnings"].astype(bool)], "Earnings campaigns")
    _equity(axes[1], compared, "All campaigns")
    fig.tight_layout()
    out.append(("Take all (solid blue) vs filtered (dashed orange), months the policy was live", _done(fig)))

    policy = result["policy"]
    fig, ax = plt.subplots(figsize=(11, 3.2))
    if len(policy):
        months = pd.PeriodIndex(policy["month"], freq="M").to_timestamp()
        ax.step(months, policy["threshold"], where="post", color="#1f4e9c", lw=2)
        live = policy["live"].to_numpy(dtype=bool)
        ax.scatter(months[live], policy["threshold"][live], color="#1f4e9c", zorder=3, label="chosen (live)")
        ax.scatter(
            months[~live],
            policy["threshold"][~live],
            facecolors="none",
            edgecolors="#888",
            zorder=3,
            label="warm-up: take all",
        )
        ax.legend(loc="lower left", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("P(loss) threshold")
    ax.set_title("The policy's threshold, re-chosen each month from campaigns closed before it", fontsize=10)
    fig.tight_layout()
    out.append(("Chosen threshold over time (1.0 = take all)", _done(fig)))

    ordered = campaigns.sort_values("exit_date", kind="stable")
    fig, ax = plt.subplots(figsize=(11, 3.6))
    colors = ["#2a9d4b" if v > 0 else "#c2362b" for v in ordered["pnl"]]
    ax.bar(range(len(ordered)), ordered["pnl"].to_numpy(), color=colors)
    skipped = ~ordered["taken"].astype(bool).to_numpy()
    ax.scatter(
        [i for i, s in enumerate(skipped) if s],
        ordered["pnl"].to_numpy()[skipped],
        marker="x",
        color="k",
        zorder=3,
        label="skipped by the policy",
    )
    if len(ordered) <= 60:
        labels = [
            f"{s} {d:%m-%d}" + (" roll" if n > 1 else "")
            for s, d, n in zip(
                ordered["symbol"], pd.to_datetime(ordered["entry_date"]), ordered["positions"], strict=True
            )
        ]
        ax.set_xticks(range(len(ordered)), labels, rotation=90, fontsize=7)
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_ylabel("$")
    ax.set_title("P&L per campaign (roll chains summed), by exit date", fontsize=10)
    if skipped.any():
        ax.legend(fontsize=8)
    fig.tight_layout()
    out.append(("P&L per campaign", _done(fig)))

    scored = campaigns[campaigns["p_loss"].notna()]
    if len(scored):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.scatter(scored["p_loss"], scored["pnl"], c=["#2a9d4b" if v > 0 else "#c2362b" for v in scored["pnl"]])
        ax.axhline(0, color="#999", lw=0.8)
        ax.set_xlabel("forecast P(loss), out of sample")
        ax.set_ylabel("realised P&L, $")
        ax.set_title("Earnings campaigns: forecast P(loss) vs outcome", fontsize=10)
        fig.tight_layout()
        out.append(("Forecast P(loss) vs realised P&L", _done(fig)))
    return out


def simulate(result: dict) -> list[tuple[str, str]]:
    curve = result["break_even_curve"]
    out = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for (rule, group), style in zip(curve.groupby("rule", sort=False), RULE_STYLES, strict=False):
        axes[0].plot(group["k"], group["mean_pct_per_trade"], lw=2, label=rule, **style)
        axes[1].plot(group["k"], group["trades"], lw=2, label=rule, **style)
    for row, style in zip(result["break_even"].to_dict(orient="records"), RULE_STYLES, strict=False):
        if row["break_even_k"] is not None and not pd.isna(row["break_even_k"]):
            axes[0].axvline(row["break_even_k"], color=style["color"], ls=style["ls"], lw=0.8)
    axes[0].axhline(0, color="#999", lw=0.8)
    axes[0].set_xlabel("k = implied / 2.0 mean")
    axes[0].set_ylabel("mean P&L per trade, % of spot")
    axes[0].set_title("Short straddle at k x 2.0's mean, after costs", fontsize=10)
    axes[1].set_xlabel("k")
    axes[1].set_ylabel("trades")
    axes[1].set_title("Trades each rule takes at k", fontsize=10)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    out.append(("Break-even: what premium selling would have needed (no P&L assumed)", _done(fig)))
    trades = result["trades"]
    trusted = trades[trades["label_trusted"].astype(bool)] if len(trades) else trades
    if len(trusted):
        fig, ax = plt.subplots(figsize=(11, 3.6))
        rules = [c for c in trusted.columns if c.startswith("sold: ")]
        for column, style in zip(rules, RULE_STYLES, strict=False):
            curve = _curve(trusted[trusted[column]], "pnl_straddle_pct")
            if not curve.empty:
                ax.step(curve.index, curve.to_numpy(), where="post", lw=2, label=column[6:], **style)
        ax.axhline(0, color="#999", lw=0.8)
        ax.set_ylabel("cumulative % of spot")
        ax.set_title(f"Short straddle at market premiums ({result['premiums']}), trusted labels", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out.append(("Cumulative P&L at market premiums", _done(fig)))
    return out
