"""Option prices, Greeks and implied volatility against scalar references and finite differences.

What "the price determines sigma" means throughout: a 1e-10 change of sigma moves the price by
more than four ulps of what rounding touched (the price, and for in-the-money options also
S and K, which put-call parity subtracts). There the implied volatility must be within 1e-8
of the sigma that made the price; elsewhere it must be NaN or reprice the input to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tradelake.analytics.greeks import (
    MODELS,
    greeks,
    implied_volatility,
    implied_volatility_with_reason,
    price,
)

EPS = float(np.finfo(np.float64).eps)


def _cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def reference(
    S: float, K: float, T: float, r: float, sigma: float, q: float, call: bool, model: str
) -> dict[str, float]:
    """Textbook formulas (Hull), written independently of the module, one option at a time."""
    w = 1.0 if call else -1.0
    sq = math.sqrt(T)
    if model == "bsm":
        d1 = (math.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / (sigma * sq)
        d2 = d1 - sigma * sq
        eq, er = math.exp(-q * T), math.exp(-r * T)
        value = w * (S * eq * _cdf(w * d1) - K * er * _cdf(w * d2))
        return {
            "price": value,
            "delta": w * eq * _cdf(w * d1),
            "gamma": eq * _pdf(d1) / (S * sigma * sq),
            "vega": S * eq * _pdf(d1) * sq,
            "theta": -S * eq * _pdf(d1) * sigma / (2 * sq)
            - w * r * K * er * _cdf(w * d2)
            + w * q * S * eq * _cdf(w * d1),
            "rho": w * K * T * er * _cdf(w * d2),
        }
    d1 = (math.log(S / K) + 0.5 * sigma * sigma * T) / (sigma * sq)
    d2 = d1 - sigma * sq
    er = math.exp(-r * T)
    value = er * w * (S * _cdf(w * d1) - K * _cdf(w * d2))
    return {
        "price": value,
        "delta": w * er * _cdf(w * d1),
        "gamma": er * _pdf(d1) / (S * sigma * sq),
        "vega": er * S * _pdf(d1) * sq,
        "theta": -er * S * _pdf(d1) * sigma / (2 * sq) + r * value,
        "rho": -T * value,
    }


def determined(
    prices: NDArray[np.float64], vega: NDArray[np.float64], S: ArrayF, K: ArrayF, itm: ArrayB
) -> NDArray[np.bool_]:
    rounding = 4 * EPS * np.where(itm, prices + S + K, prices)
    return (vega * 1e-10 > rounding) & (prices > 1e-250 * S)


ArrayF = NDArray[np.float64] | float
ArrayB = NDArray[np.bool_] | bool


def check_inverse(
    iv: NDArray[np.float64],
    sigma: NDArray[np.float64],
    S: ArrayF,
    K: ArrayF,
    T: ArrayF,
    r: ArrayF,
    q: ArrayF,
    call: ArrayB,
    model: str,
) -> int:
    """Assert the accuracy contract; return how many points were in the determined domain."""
    g = greeks(S, K, T, r, sigma, q, call, model)
    F = np.asarray(S) * (np.exp((np.asarray(r) - q) * T) if model == "bsm" else 1.0)
    itm = np.where(call, F > K, F < K)
    det = determined(g.price, g.vega, S, K, itm)
    err = np.abs(iv - sigma)
    assert np.all(err[det] <= 1e-8), f"max err {np.nanmax(err[det])}"
    # Outside that domain: NaN, or a volatility that reproduces the price to rounding.
    other = ~det & ~np.isnan(iv)
    back = price(S, K, T, r, iv, q, call, model)
    noise = 64 * EPS * (g.price + np.asarray(S) + K) + 1e-300
    assert np.all(np.abs(back - g.price)[other] <= np.broadcast_to(noise, back.shape)[other])
    return int(det.sum())


@pytest.mark.parametrize("model", MODELS)
def test_closed_form_matches_scalar_reference(model: str) -> None:
    S, r, q = 100.0, 0.03, 0.015
    for K in (60.0, 95.0, 100.0, 105.0, 160.0):
        for T in (0.02, 0.5, 3.0):
            for sigma in (0.08, 0.3, 0.9):
                for call in (True, False):
                    got = greeks(S, K, T, r, sigma, q, call, model)
                    want = reference(S, K, T, r, sigma, q, call, model)
                    for name, value in want.items():
                        assert math.isclose(
                            float(getattr(got, name)), value, rel_tol=1e-10, abs_tol=1e-10
                        ), (name, K, T, sigma, call)


@pytest.mark.parametrize("call", [True, False])
@pytest.mark.parametrize("model", MODELS)
def test_greeks_match_central_differences(model: str, call: bool) -> None:
    S, K = 100.0, np.array([70.0, 98.0, 100.0, 103.0, 150.0])
    T, r, q, sigma = 0.75, 0.04, 0.02, 0.35
    g = greeks(S, K, T, r, sigma, q, call, model)

    def v(
        dS: float = 0.0, dT: float = 0.0, dr: float = 0.0, dv: float = 0.0
    ) -> NDArray[np.float64]:
        return price(S + dS, K, T + dT, r + dr, sigma + dv, q, call, model)

    h = 1e-4 * S  # truncation ~h²·V'''/6 and rounding ~eps·V/h are both near 1e-10 here
    np.testing.assert_allclose(g.delta, (v(dS=h) - v(dS=-h)) / (2 * h), rtol=1e-7, atol=1e-9)
    h = 1e-3 * S
    gamma_fd = (v(dS=h) - 2 * v() + v(dS=-h)) / (h * h)
    np.testing.assert_allclose(g.gamma, gamma_fd, rtol=1e-5, atol=1e-8)
    e = 1e-5
    np.testing.assert_allclose(g.vega, (v(dv=e) - v(dv=-e)) / (2 * e), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(g.rho, (v(dr=e) - v(dr=-e)) / (2 * e), rtol=1e-7, atol=1e-7)
    # theta is per year of calendar time: the value lost as T shrinks
    np.testing.assert_allclose(g.theta, -(v(dT=e) - v(dT=-e)) / (2 * e), rtol=1e-6, atol=1e-6)


def test_vega_is_per_unit_vol_and_theta_per_year() -> None:
    g = greeks(100.0, 100.0, 1.0, 0.0, 0.2)
    step = float(price(100.0, 100.0, 1.0, 0.0, 0.21) - price(100.0, 100.0, 1.0, 0.0, 0.2))
    assert math.isclose(float(g.vega) * 0.01, step, rel_tol=1e-2)
    day = float(price(100.0, 100.0, 1.0 - 1 / 365, 0.0, 0.2) - price(100.0, 100.0, 1.0, 0.0, 0.2))
    assert math.isclose(float(g.theta) / 365, day, rel_tol=1e-2)


@pytest.mark.parametrize("model", MODELS)
def test_implied_volatility_round_trip_grid(model: str) -> None:
    moneyness = np.array([0.05, 0.3, 0.6, 0.85, 0.97, 1.0, 1.03, 1.2, 1.6, 3.0, 20.0])
    expiry = np.array([1 / 8760, 1 / 365, 7 / 365, 0.1, 0.5, 2.0, 10.0, 40.0])
    vols = np.array([0.005, 0.03, 0.1, 0.25, 0.6, 1.2, 3.0, 8.0])
    K, T, sigma, call = (a.ravel() for a in np.meshgrid(moneyness * 100, expiry, vols, [1.0, 0.0]))
    S, r, q = 100.0, 0.05, 0.02
    prices = price(S, K, T, r, sigma, q, call, model)
    iv, why = implied_volatility_with_reason(prices, S, K, T, r, q, call, model)
    solved = check_inverse(iv, sigma, S, K, T, r, q, call.astype(bool), model)
    assert solved > 0.5 * K.size  # the domain is most of the grid, not a corner of it
    assert set(why[np.isnan(iv)]) <= {"no_time_value", "above_upper_bound"}
    assert np.all(why[~np.isnan(iv)] == "")


def test_normalised_extremes_through_public_api() -> None:
    # Black-76 with r = 0, T = 1: sigma is the total volatility s and F/K = e^x.
    x = -np.concatenate([[0.0], np.geomspace(1e-8, 40.0, 60)])
    s = np.geomspace(1e-4, 25.0, 60)
    xx, ss = (a.ravel() for a in np.meshgrid(x, s))
    K = np.exp(-xx)
    for call in (True, False):
        prices = price(1.0, K, 1.0, 0.0, ss, 0.0, call, "black76")
        iv = implied_volatility(prices, 1.0, K, 1.0, 0.0, 0.0, call, "black76")
        check_inverse(iv, ss, 1.0, K, 1.0, 0.0, 0.0, call, "black76")


def test_reasons_for_nan() -> None:
    S, K, T, r, q = 100.0, 90.0, 0.5, 0.05, 0.01
    lower = S * math.exp(-q * T) - K * math.exp(-r * T)
    cases = [
        (lower - 0.01, S, K, T, True, "below_intrinsic"),
        (S * math.exp(-q * T), S, K, T, True, "above_upper_bound"),
        (K * math.exp(-r * T) + 1.0, S, K, T, False, "above_upper_bound"),
        (lower, S, K, T, True, "no_time_value"),
        (0.0, S, 300.0, T, True, "no_time_value"),
        (5.0, S, K, 0.0, True, "expired"),
        (5.0, S, K, -1.0, True, "expired"),
        (5.0, -S, K, T, True, "invalid_input"),
        (5.0, S, 0.0, T, True, "invalid_input"),
        (-1.0, S, K, T, True, "invalid_input"),
        (float("nan"), S, K, T, True, "invalid_input"),
        (float(price(S, K, T, r, 0.3, q, True)), S, K, T, True, ""),
    ]
    P, S_, K_, T_, call, want = (np.array(c) for c in zip(*cases, strict=True))
    iv, why = implied_volatility_with_reason(P, S_, K_, T_, r, q, call)
    assert list(why) == list(want)
    assert np.all(np.isnan(iv[:-1]))
    assert math.isclose(iv[-1], 0.3, abs_tol=1e-12)


def test_unknown_model_is_rejected_with_accepted_values() -> None:
    for fn in (
        lambda: price(100, 100, 1, 0, 0.2, model="bs"),
        lambda: greeks(100, 100, 1, 0, 0.2, model="Black76"),
        lambda: implied_volatility(10, 100, 100, 1, 0, model="heston"),
    ):
        with pytest.raises(ValueError, match=r"bsm.*black76"):
            fn()


def test_scalars_broadcasting_and_empty() -> None:
    p = price(100.0, 100.0, 1.0, 0.01, 0.2)
    assert p.shape == ()
    iv = implied_volatility(p, 100.0, 100.0, 1.0, 0.01)
    assert iv.shape == () and math.isclose(float(iv), 0.2, abs_tol=1e-12)
    K = np.array([[80.0], [100.0], [125.0]])
    T = np.array([[0.1, 0.5, 1.0, 2.0]])
    grid = price(100.0, K, T, 0.01, 0.25, 0.0, False)
    assert grid.shape == (3, 4)
    np.testing.assert_allclose(implied_volatility(grid, 100.0, K, T, 0.01, 0.0, False), 0.25)
    assert all(a.shape == (3, 4) for a in greeks(100.0, K, T, 0.01, 0.25))
    assert implied_volatility(np.array([]), 100.0, 100.0, 1.0, 0.0).shape == (0,)


def test_expiry_and_zero_vol_price_is_intrinsic_and_greeks_nan() -> None:
    g = greeks(110.0, 100.0, np.array([0.0, 1.0]), 0.05, np.array([0.2, 0.0]))
    np.testing.assert_allclose(g.price, [10.0, 110.0 - 100.0 * math.exp(-0.05)])
    assert np.all(np.isnan(g.delta)) and np.all(np.isnan(g.vega))


def test_blocks_do_not_change_results() -> None:
    rng = np.random.default_rng(3)
    n = 70_000  # more than two blocks
    K = rng.uniform(50, 150, n)
    T = rng.uniform(0.01, 2, n)
    sigma = rng.uniform(0.05, 1.0, n)
    prices = price(100.0, K, T, 0.02, sigma)
    whole = implied_volatility(prices, 100.0, K, T, 0.02)
    parts = [implied_volatility(prices[i::7], 100.0, K[i::7], T[i::7], 0.02) for i in range(2)]
    np.testing.assert_array_equal(whole[0::7], parts[0])
    np.testing.assert_array_equal(whole[1::7], parts[1])
    check_inverse(whole, sigma, 100.0, K, T, 0.02, 0.0, True, "bsm")


option = st.fixed_dictionaries(
    {
        "S": st.floats(1.0, 5000.0),
        "m": st.floats(0.25, 4.0),
        "T": st.floats(1 / 365, 5.0),
        "sigma": st.floats(0.02, 2.0),
        "r": st.floats(-0.02, 0.1),
        "q": st.floats(0.0, 0.06),
        "call": st.booleans(),
        "model": st.sampled_from(MODELS),
    }
)


@settings(max_examples=150, deadline=None)
@given(option)
def test_property_round_trip(o: dict[str, float | bool | str]) -> None:
    S, K = float(o["S"]), float(o["S"]) * float(o["m"])
    T, sigma, r, q = float(o["T"]), float(o["sigma"]), float(o["r"]), float(o["q"])
    call, model = bool(o["call"]), str(o["model"])
    p = price(S, K, T, r, sigma, q, call, model)
    iv = implied_volatility(p, S, K, T, r, q, call, model)
    check_inverse(np.atleast_1d(iv), np.array([sigma]), S, K, T, r, q, call, model)


@settings(max_examples=100, deadline=None)
@given(option)
def test_property_put_call_parity(o: dict[str, float | bool | str]) -> None:
    S, K = float(o["S"]), float(o["S"]) * float(o["m"])
    T, sigma, r, q, model = (
        float(o["T"]),
        float(o["sigma"]),
        float(o["r"]),
        float(o["q"]),
        str(o["model"]),
    )
    c = float(price(S, K, T, r, sigma, q, True, model))
    p = float(price(S, K, T, r, sigma, q, False, model))
    forward = S * math.exp(-q * T) if model == "bsm" else S * math.exp(-r * T)
    assert math.isclose(c - p, forward - K * math.exp(-r * T), abs_tol=1e-11 * (S + K))


@settings(max_examples=100, deadline=None)
@given(option, st.floats(0.001, 1.0))
def test_property_price_increases_with_sigma(o: dict[str, float | bool | str], bump: float) -> None:
    S, K = float(o["S"]), float(o["S"]) * float(o["m"])
    T, sigma, r, q = float(o["T"]), float(o["sigma"]), float(o["r"]), float(o["q"])
    call, model = bool(o["call"]), str(o["model"])
    low = float(price(S, K, T, r, sigma, q, call, model))
    high = float(price(S, K, T, r, sigma + bump, q, call, model))
    assert high >= low - 4 * EPS * (low + S + K)
    assert float(greeks(S, K, T, r, sigma, q, call, model).vega) >= 0.0
