"""Recommendations from kept forecasts: each event's market inputs, then its decision and size, one event by
`strategy.decide_one` on its kept distribution, several at once by `strategy_batch.decide_many` (both exactly
`decide`'s decisions); events that cannot be served are refused with a reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import pandas as pd

from ivcrush.serving.decision import Decision
from ivcrush.serving.forecasts import EventForecast, calendar_day, records
from ivcrush.serving.market import MarketInputs, StrategyError, event_market, number_or_none
from ivcrush.serving.recommendation import Recommendation, Refusal, forecast_distributions
from ivcrush.serving.strategy import decide_one
from ivcrush.serving.strategy_batch import decide_many
from ivcrush.settings import Account, Costs, Settings
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import keep_quadrature_nodes, quadrature_nodes


def recommend_forecasts(
    settings: Settings,
    forecasts: list[EventForecast],
    *,
    given: Mapping[str, Mapping[str, object]] | None = None,
    implied: pd.DataFrame | None = None,
    quotes: pd.DataFrame | None = None,
    account: Account | None = None,
    costs: Costs | None = None,
    preset: str = "balanced",
    strike_quantile: float = 0.9,
) -> tuple[list[Recommendation], list[Refusal]]:
    """The recommendations of the events' forecasts (`predict.recommend`: several events decided at once);
    `given`: market inputs by ticker besides `implied`'s rows."""
    account = account or Account()
    costs = costs or Costs()
    overrides: dict[str, Mapping[str, object]] = {}
    if implied is not None:
        overrides.update((cast(str, row["ticker"]), row) for row in records(implied))
    overrides.update(given or {})
    chains = {} if quotes is None else dict(tuple(quotes.groupby("ticker", sort=False)))
    refusals: list[Refusal] = []
    served: list[tuple[EventForecast, MarketInputs]] = []
    for forecast in forecasts:
        ticker = cast(str, forecast.row["ticker"])
        try:
            market = event_market(
                forecast.row,
                overrides.get(ticker, {}),
                chains.get(ticker),
                decision_date=forecast.decision_date,
                reaction_date=forecast.reaction_date,
            )
        except StrategyError as exc:
            refusals.append(Refusal(ticker, str(exc)))
            continue
        if forecast.refusal is not None:
            refusals.append(Refusal(ticker, forecast.refusal))
            continue
        served.append((forecast, market))
    if not served:
        return [], refusals
    forecasts = [forecast for forecast, _ in served]
    markets = [market for _, market in served]
    decisions, distributions = _decisions(forecasts, markets, account, costs, preset, strike_quantile)
    recommendations = [
        Recommendation(
            ticker=cast(str, forecast.row["ticker"]),
            event_id=cast(str, forecast.row["event_id"]),
            earnings_date=calendar_day(forecast.row["earnings_date"]).isoformat(),
            timing=cast(str, forecast.row["timing"]),
            implied_source=market.implied_source,
            spot_source=market.spot_source,
            basis=forecast.prediction["basis"],
            forecast={
                **forecast.prediction,
                "quantiles": {str(k): v for k, v in forecast.prediction["quantiles"].items()},
                "mean": decision.forecast_mean_pct,
                "market_features_stale": _stale(forecast.stale_days, settings),
            },
            decision=decision,
            distribution=distribution,
            notes=[*forecast.notes, *market.notes],
        )
        for forecast, market, decision, distribution in zip(forecasts, markets, decisions, distributions, strict=True)
    ]
    recommendations.sort(key=lambda r: (r.decision.contracts == 0, -r.decision.ev_per_risk))
    return recommendations, refusals


def _decisions(
    forecasts: list[EventForecast],
    markets: list[MarketInputs],
    account: Account,
    costs: Costs,
    preset: str,
    strike_quantile: float,
) -> tuple[list[Decision], list[MoveDistribution]]:
    """Each served event's decision and one-event distribution: one event by `decide_one` on its kept distribution,
    several at once by `decide_many` (the same decisions as `decide` event by event)."""
    hist = [number_or_none(forecast.row.get("hm_close_mean_12q_all_rows")) for forecast in forecasts]
    prob_up = [forecast.prediction["p_up"] for forecast in forecasts]
    if len(forecasts) == 1:
        one = decide_one(
            forecasts[0].distribution,
            market=markets[0],
            prob_up=prob_up[0],
            account=account,
            costs=costs,
            hist_mean_2_0_pct=hist[0],
            preset=preset,
            strike_quantile=strike_quantile,
        )
        return [one], [forecasts[0].distribution]
    distribution = forecast_distributions([forecast.prediction for forecast in forecasts])
    _give_nodes(distribution, forecasts)
    many = decide_many(
        distribution,
        markets=markets,
        prob_up=prob_up,
        account=account,
        costs=costs,
        hist_mean_2_0_pct=hist,
        preset=preset,
        strike_quantile=strike_quantile,
    )
    return many, [distribution.event(i) for i in range(len(forecasts))]


def _give_nodes(distribution: MoveDistribution, forecasts: list[EventForecast]) -> None:
    """The n-event distribution's quadrature nodes from its events' kept forecasts (a scan of kept forecasts
    inverts no quantile function); those not known yet computed at once and kept with their forecasts."""
    missing = [i for i, forecast in enumerate(forecasts) if forecast.nodes is None]
    if missing:
        unknown = distribution if len(missing) == len(forecasts) else distribution.take(missing)
        computed, _ = quadrature_nodes(unknown)
        computed.flags.writeable = False
        for i, nodes in zip(missing, computed, strict=True):
            forecasts[i].keep_nodes(nodes)
        if len(missing) == len(forecasts):  # every event's nodes a row of these (none was kept before)
            keep_quadrature_nodes(distribution, computed)
            return
    keep_quadrature_nodes(distribution, [cast(np.ndarray, forecast.nodes) for forecast in forecasts])


def _stale(days: float | None, settings: Settings) -> bool:
    """Whether the market features are older than the settings allow."""
    return days is not None and days > settings.stale_market_days
