"""The simulated card-payment world behind Sleuth's demo data.

One generative process serves both the training snapshot and the production log: features are
drawn first, then fraud is drawn from a fixed function of those true features. So a label means
the same thing in both files, and an incident that corrupts what a model *sees* (a nulled or
swapped column) leaves the truth alone: the model's error rises, as it would in production.

A table of transactions is a plain ``dict`` of numpy arrays ("columns"). Categorical features
are stored as small integer codes into the tuples in :data:`CATEGORIES`, which keeps sampling
and scoring of ten million rows cheap; :func:`model_frame` turns them into the pandas frame
the models take.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Columns = dict[str, np.ndarray]

REGIONS = ("EU-West", "EU-East", "US-East", "US-West", "APAC", "LATAM")
REGION_SHARES = (0.24, 0.10, 0.22, 0.16, 0.18, 0.10)
REGION_UTC_OFFSET_HOURS = (1, 2, -5, -8, 8, -3)

MERCHANT_CATEGORIES = (
    "grocery", "restaurants", "fuel", "online_retail", "electronics", "travel", "gaming", "jewelry",
)
MERCHANT_CATEGORY_SHARES = (0.22, 0.16, 0.12, 0.18, 0.10, 0.08, 0.08, 0.06)
# Typical ticket size relative to the customer's usual spend, and how risky the category is.
MERCHANT_CATEGORY_SPEND = (0.8, 0.7, 0.9, 1.3, 4.0, 6.0, 0.6, 8.0)
MERCHANT_CATEGORY_RISK = (-0.7, -0.5, -0.4, 0.2, 0.4, 0.3, 0.6, 0.5)

CLIENTS = (
    "acme-pay", "globex-payments", "initech-cards", "umbrella-fin", "stark-pay", "wayne-processing",
)
CLIENT_SHARES = (0.24, 0.20, 0.18, 0.16, 0.12, 0.10)

DEVICE_TYPES = ("mobile", "desktop", "pos_terminal", "kiosk")
DEVICE_SHARES = (0.40, 0.22, 0.32, 0.06)
DEVICE_CARD_PRESENT = (0.10, 0.0, 0.97, 0.90)
DEVICE_RISK = (0.2, 0.0, -0.3, 4.0)

CATEGORIES: dict[str, tuple[str, ...]] = {
    "region": REGIONS,
    "merchant_category": MERCHANT_CATEGORIES,
    "client": CLIENTS,
    "device_type": DEVICE_TYPES,
}
NUMERIC_FEATURES = (
    "amount", "distance_from_home_km", "merchant_risk", "customer_age_days",
    "txn_count_24h", "avg_amount_30d", "hour",
)
CATEGORICAL_FEATURES = tuple(CATEGORIES)
FLAG_FEATURES = ("card_present",)
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES + FLAG_FEATURES

# Relative traffic by local hour of day: quiet nights, a lunch peak and an evening peak.
DIURNAL = np.array([
    0.20, 0.12, 0.08, 0.06, 0.06, 0.10, 0.25, 0.50, 0.80, 1.00, 1.10, 1.20,
    1.30, 1.25, 1.15, 1.10, 1.10, 1.20, 1.35, 1.40, 1.25, 0.95, 0.65, 0.40,
])

FRAUD_INTERCEPT = -15.5
"""Chosen so that about 4-5% of transactions are fraud."""


def sample_local_hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Local hours of day with the diurnal traffic shape (for rows without a timestamp)."""
    return rng.choice(24, size=n, p=DIURNAL / DIURNAL.sum()).astype(np.int16)


def sample_regions(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(REGIONS), size=n, p=REGION_SHARES).astype(np.int8)


def sample_transactions(
    rng: np.random.Generator,
    regions: np.ndarray,
    local_hours: np.ndarray,
    spend_growth: float | np.ndarray = 1.0,
) -> Columns:
    """True feature values for transactions whose region and local hour are already drawn.

    ``spend_growth`` multiplies customers' usual spend (``avg_amount_30d``): the log uses it
    for the gradual-drift incident; the training snapshot leaves it at 1.
    """
    n = len(regions)
    category = rng.choice(len(MERCHANT_CATEGORIES), size=n, p=MERCHANT_CATEGORY_SHARES)
    device = rng.choice(len(DEVICE_TYPES), size=n, p=DEVICE_SHARES)
    card_present = rng.random(n) < np.take(DEVICE_CARD_PRESENT, device)
    is_new_customer = rng.random(n) < 0.10
    customer_age = np.where(
        is_new_customer,
        rng.integers(0, 30, size=n),
        np.minimum(30 + rng.lognormal(np.log(700), 0.9, size=n), 9000),
    ).astype(np.int32)
    avg_amount = np.round(rng.lognormal(np.log(55), 0.55, size=n) * spend_growth, 2)
    spend_factor = np.take(MERCHANT_CATEGORY_SPEND, category)
    amount = np.round(avg_amount / spend_growth * spend_factor * rng.lognormal(0, 0.75, n), 2)
    distance = np.where(
        card_present,
        rng.lognormal(np.log(5), 0.9, size=n),
        rng.lognormal(np.log(12), 1.1, size=n),
    )
    return {
        "amount": np.maximum(amount, 0.5),
        "distance_from_home_km": np.round(distance, 1),
        "merchant_risk": np.round(_merchant_risk(rng, n), 3),
        "customer_age_days": customer_age,
        "txn_count_24h": (1 + rng.poisson(2.0, size=n)).astype(np.int32),
        "avg_amount_30d": avg_amount,
        "hour": local_hours.astype(np.int32),
        "region": regions.astype(np.int8),
        "merchant_category": category.astype(np.int8),
        "client": rng.choice(len(CLIENTS), size=n, p=CLIENT_SHARES).astype(np.int8),
        "device_type": device.astype(np.int8),
        "card_present": card_present,
    }


def _merchant_risk(rng: np.random.Generator, n: int) -> np.ndarray:
    """Risk scores of merchants: most are low, about one in eight is a known risky merchant."""
    risky = rng.random(n) < 0.15
    return np.where(risky, rng.beta(6, 4, size=n), rng.beta(2, 12, size=n))


def fraud_logit(true: Columns) -> np.ndarray:
    """Log-odds of fraud given the true features: the fixed law both files obey.

    Several terms are non-linear (a distance cliff, the first month of a customer, night-time
    card-not-present, spend relative to the usual): a linear model can only approximate them,
    which is what makes the boosted model genuinely stronger overall. Kiosks carry extra risk
    that grows with card-testing bursts (many transactions in a day).
    """
    kiosk = true["device_type"] == DEVICE_TYPES.index("kiosk")
    txn_burst = np.minimum(true["txn_count_24h"], 10) - 3
    night = true["hour"] <= 4
    card_present = true["card_present"]
    return (
        FRAUD_INTERCEPT
        + 20.0 * true["merchant_risk"]
        + 1.2 * np.log(true["amount"] / true["avg_amount_30d"])
        + 1.5 * np.log1p(true["distance_from_home_km"] / 10)
        + 6.0 * (true["distance_from_home_km"] > 150)
        + 4.5 * (true["customer_age_days"] < 30)
        + 0.9 * txn_burst
        - 2.0 * card_present
        + 4.5 * (night & ~card_present)
        + 2.0 * np.take(MERCHANT_CATEGORY_RISK, true["merchant_category"])
        + np.take(DEVICE_RISK, true["device_type"])
        + 0.5 * kiosk * txn_burst
    )


def sample_fraud(rng: np.random.Generator, true: Columns) -> np.ndarray:
    """Draw the 0/1 fraud label of each transaction from :func:`fraud_logit`."""
    probability = 1.0 / (1.0 + np.exp(-fraud_logit(true)))
    return (rng.random(len(probability)) < probability).astype(np.int8)


def decode(name: str, codes: np.ndarray) -> np.ndarray:
    """Category names (an object array) for the codes of categorical feature ``name``."""
    return np.asarray(CATEGORIES[name], dtype=object)[codes]


def model_frame(columns: Columns) -> pd.DataFrame:
    """The features as the models take them: numbers, category names, and a boolean flag."""
    data = {}
    for name in FEATURES:
        values = columns[name]
        if name in CATEGORIES:
            data[name] = pd.Categorical.from_codes(values, categories=CATEGORIES[name])
        else:
            data[name] = values
    return pd.DataFrame(data)
