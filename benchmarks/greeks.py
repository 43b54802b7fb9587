"""Time implied volatility and Greeks against py_vollib_vectorized on the same options.

Run: ``python benchmarks/greeks.py --n 1000000``. The baseline needs
``pip install py_vollib==1.0.1 py_lets_be_rational==1.0.1 py_vollib_vectorized``; without it
only our timings and accuracy are printed.

Options (BSM, r = 3 %, q = 1 %, half calls, half puts): K/S log-uniform in [0.5, 2], T
log-uniform in [1 day, 3 years], sigma uniform in [0.05, 1]. Prices come from our ``price``,
so both libraries invert the same numbers. IV error is measured against the sigma that made
the price, on the options whose price determines sigma: a 1e-10 change of sigma moves the
price by more than four ulps of what rounding touched (the price, and for in-the-money
options also S and K, which parity subtracts), and the price is above 1e-250·S. The rest
(deep in or out of the money a few days from expiry) is counted but has no meaningful 1e-8
target. Both sides run single-threaded (the baseline is a serial numba loop). Each is timed
``--repeat`` times, ours and the baseline alternately so that both see the same machine load,
and the best run of each is kept, after a warm-up call on 1,000 options (the baseline
JIT-compiles with numba on its first call; our inverse table is built on first use).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tradelake.analytics.greeks import greeks, implied_volatility, price


def timed(fn: Callable[[], Any], times: list[float]) -> Any:
    """Call ``fn``, append its wall time to ``times`` and return its result."""
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of options")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs each, best is kept")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    n, r, q, spot = args.n, 0.03, 0.01, 100.0
    S = np.full(n, spot)
    K = spot * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    T = np.exp(rng.uniform(np.log(1 / 365), np.log(3.0), n))
    sigma = rng.uniform(0.05, 1.0, n)
    is_call = rng.random(n) < 0.5
    prices = price(S, K, T, r, sigma, q, is_call)

    g = greeks(S, K, T, r, sigma, q, is_call)
    itm = np.where(is_call, S * np.exp(-q * T) > K * np.exp(-r * T), S < K)
    rounding = 4 * np.finfo(np.float64).eps * np.where(itm, prices + S + K, prices)
    determined = (g.vega * 1e-10 > rounding) & (prices > 1e-250 * S)
    print(f"options: {n:,}  (price determines sigma for {determined.sum():,})")

    def ours_iv() -> Any:
        return implied_volatility(prices, S, K, T, r, q, is_call)

    def ours_greeks() -> Any:
        return greeks(S, K, T, r, sigma, q, is_call)

    small = slice(0, min(n, 1000))
    implied_volatility(prices[small], S[small], K[small], T[small], r, q, is_call[small])

    try:
        import py_vollib_vectorized as pvv
    except ImportError as exc:
        pvv = None
        print(f"baseline py_vollib_vectorized not importable ({exc}): install py_vollib==1.0.1")
        print("py_lets_be_rational==1.0.1 py_vollib_vectorized to compare. Ours only:")

    flag = np.where(is_call, "c", "p")
    model = "black_scholes_merton"

    def base_iv(idx: slice = slice(None)) -> Any:
        return pvv.vectorized_implied_volatility(
            prices[idx], S[idx], K[idx], T[idx], r, flag[idx], q=q, model=model,
            on_error="ignore", return_as="numpy",
        )  # fmt: skip

    def base_greeks(idx: slice = slice(None)) -> Any:
        return pvv.get_all_greeks(
            flag[idx], S[idx], K[idx], T[idx], r, sigma[idx], q=q, model=model, return_as="dict"
        )

    times: dict[str, list[float]] = {"iv": [], "greeks": [], "base_iv": [], "base_greeks": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pvv is not None:
            start = time.perf_counter()
            base_iv(small)
            base_greeks(small)
            print(f"baseline warm-up (numba JIT, excluded): {time.perf_counter() - start:.1f} s")
        iv = biv = None
        for _ in range(args.repeat):
            iv = timed(ours_iv, times["iv"])
            if pvv is not None:
                biv = timed(base_iv, times["base_iv"])
            timed(ours_greeks, times["greeks"])
            if pvv is not None:
                timed(base_greeks, times["base_greeks"])

    best = {k: min(v) if v else float("nan") for k, v in times.items()}
    iv = np.asarray(iv, dtype=np.float64)
    err = np.abs(iv - sigma)[determined]
    print(f"ours     implied_volatility: {best['iv'] * 1e3:9.1f} ms")
    print(f"ours     greeks (all five):  {best['greeks'] * 1e3:9.1f} ms")
    print(f"ours     max |iv - sigma| where determined: {np.nanmax(err):.3e}")
    print(
        f"ours     NaN where determined: {np.isnan(err).sum()}, NaN overall: {np.isnan(iv).sum()}"
    )
    if pvv is None:
        return
    berr = np.abs(np.asarray(biv, dtype=np.float64).ravel() - sigma)[determined]
    print(f"baseline implied_volatility: {best['base_iv'] * 1e3:9.1f} ms")
    print(f"baseline get_all_greeks:     {best['base_greeks'] * 1e3:9.1f} ms")
    print(f"baseline max |iv - sigma| where determined: {np.nanmax(berr):.3e}")
    print(f"speed-up implied volatility: {best['base_iv'] / best['iv']:6.1f}x")
    print(f"speed-up greeks:             {best['base_greeks'] / best['greeks']:6.1f}x")


if __name__ == "__main__":
    main()
