"""Backtests of the earnings IV-crush trade: the trade journal replayed with an ML filter, and a
simulation over every past event; positions, trading metrics and the HTML report."""
