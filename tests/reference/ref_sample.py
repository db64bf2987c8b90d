#!/usr/bin/env python3
"""Independent reference implementation (test oracle) of diffusion noise
schedules and samplers over analytic Gaussian-mixture models.

Written from the published definitions (DDPM, improved DDPM, DDIM, EDM /
k-diffusion, DPM-Solver++, UniPC / diffusers) in plain NumPy float64.  It does
not share code with the TypeScript implementation it checks.

Usage (see README.md in this folder):

  /usr/bin/python3 tests/reference/ref_sample.py --model mix.json \
      --formulation vp|sigma --schedule linear|cosine|scaled-linear|sigmoid|karras \
      [--beta-schedule linear|cosine|scaled-linear|sigmoid] [--timesteps 1000] \
      [--spacing linspace|leading|trailing] [--spacing-rounding numpy|exact] [--sigma-min X] [--sigma-max X] [--rho 7] \
      --sampler NAME --steps N [--eta X] [--variance beta|beta-tilde] [--order K] \
      [--variant bh1|bh2] --init-noise z.npy --seed S --out x.npy

Writes the final samples (float64 .npy, [n, dim], in sigma space, which for the
final sigma = 0 is also the VP space) and prints one JSON line
{"nfe": ..., "sigmas": [...]}.
"""

import argparse
import json
import math
import sys
from fractions import Fraction

import numpy as np

SAMPLERS = (
    "euler",
    "euler-ancestral",
    "heun",
    "dpmpp-2m",
    "dpmpp-2m-sde",
    "lms",
    "ddim",
    "ddpm",
    "unipc",
)

# ---------------------------------------------------------------------------
# Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3")
# ---------------------------------------------------------------------------

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Vectorised Philox4x32 with 10 rounds.

    c0..c3: uint32-valued integer arrays (broadcastable); k0, k1: python ints.
    Returns four uint64 arrays holding the uint32 output words.
    """
    c0 = np.asarray(c0, dtype=np.uint64)
    c1 = np.asarray(c1, dtype=np.uint64)
    c2 = np.asarray(c2, dtype=np.uint64)
    c3 = np.asarray(c3, dtype=np.uint64)
    c0, c1, c2, c3 = np.broadcast_arrays(c0, c1, c2, c3)
    key0 = k0 & 0xFFFFFFFF
    key1 = k1 & 0xFFFFFFFF
    for rnd in range(10):
        if rnd > 0:
            key0 = (key0 + _W0) & 0xFFFFFFFF
            key1 = (key1 + _W1) & 0xFFFFFFFF
        p0 = _M0 * c0  # < 2^64, no overflow
        p1 = _M1 * c2
        hi0, lo0 = p0 >> _SHIFT, p0 & _MASK
        hi1, lo1 = p1 >> _SHIFT, p1 & _MASK
        c0, c1, c2, c3 = (
            hi1 ^ c1 ^ np.uint64(key0),
            lo1,
            hi0 ^ c3 ^ np.uint64(key1),
            lo0,
        )
    return c0, c1, c2, c3


class NoiseStreams:
    """Per-sample counter-based normal streams.

    Sample j (global 0-based index) of seed s, purpose p:
      key = (s mod 2^32, floor(s / 2^32) mod 2^32)
      counter = (block mod 2^32, floor(block / 2^32), j, p)
    Each block yields 4 normals by Box-Muller; one read of `dim` values takes
    ceil(dim / 4) consecutive blocks (leftover values discarded).
    """

    def __init__(self, seed, n, dim, purpose=1, first_index=0):
        seed = int(seed)
        if seed < 0:
            raise ValueError("seed must be non-negative")
        self.k0 = seed % (1 << 32)
        self.k1 = (seed >> 32) % (1 << 32)
        self.n = n
        self.dim = dim
        self.purpose = purpose
        self.j = np.arange(first_index, first_index + n, dtype=np.uint64)
        self.block = 0  # all streams advance in lockstep
        self.reads = 0

    def next(self):
        nb = -(-self.dim // 4)
        blocks = np.arange(self.block, self.block + nb, dtype=np.uint64)
        lo = blocks & _MASK
        hi = blocks >> _SHIFT
        w0, w1, w2, w3 = philox4x32_10(
            lo[None, :], hi[None, :], self.j[:, None], np.uint64(self.purpose), self.k0, self.k1
        )
        self.block += nb
        self.reads += 1
        out = box_muller(w0, w1, w2, w3)  # [n, nb, 4]
        return out.reshape(self.n, nb * 4)[:, : self.dim].copy()


def box_muller(w0, w1, w2, w3):
    inv = 1.0 / 4294967296.0
    u0 = (w0.astype(np.float64) + 0.5) * inv
    u1 = (w1.astype(np.float64) + 0.5) * inv
    u2 = (w2.astype(np.float64) + 0.5) * inv
    u3 = (w3.astype(np.float64) + 0.5) * inv
    r0 = np.sqrt(-2.0 * np.log(u0))
    a0 = 2.0 * math.pi * u1
    r1 = np.sqrt(-2.0 * np.log(u2))
    a1 = 2.0 * math.pi * u3
    return np.stack([r0 * np.cos(a0), r0 * np.sin(a0), r1 * np.cos(a1), r1 * np.sin(a1)], axis=-1)


# ---------------------------------------------------------------------------
# Gaussian mixture and its exact denoiser
# ---------------------------------------------------------------------------


class GaussianMixture:
    def __init__(self, weights, means, stds):
        w = np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        self.means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        self.stds = np.asarray(stds, dtype=np.float64)
        k = len(self.weights)
        if self.means.shape[0] != k or self.stds.shape != (k,):
            raise ValueError("weights, means and stds disagree on the number of components")
        self.dim = self.means.shape[1]

    @classmethod
    def load(cls, path):
        if path.startswith("gmm:"):
            path = path[4:]
        with open(path) as f:
            d = json.load(f)
        return cls(d["weights"], d["means"], d["stds"])

    def denoise(self, x, sigma):
        """E[x0 | x], x = x0 + sigma * eps."""
        x = np.asarray(x, dtype=np.float64)
        s2 = self.stds**2
        v = s2 + sigma * sigma  # [K]
        diff = x[:, None, :] - self.means[None, :, :]  # [n, K, d]
        sq = np.einsum("nkd,nkd->nk", diff, diff)
        logp = np.log(self.weights)[None, :] - 0.5 * self.dim * np.log(2.0 * math.pi * v)[None, :] - 0.5 * sq / v[None, :]
        logp -= logp.max(axis=1, keepdims=True)
        r = np.exp(logp)
        r /= r.sum(axis=1, keepdims=True)
        gain = s2 / v  # [K]
        comp = self.means[None, :, :] + gain[None, :, None] * diff  # [n, K, d]
        return np.einsum("nk,nkd->nd", r, comp)


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------


def betas_for(schedule, T):
    T = int(T)
    if schedule == "linear":
        scale = 1000.0 / T
        return np.linspace(scale * 1e-4, scale * 0.02, T, dtype=np.float64)
    if schedule == "cosine":
        s = 0.008

        def abar_fn(t):
            return math.cos((t / T + s) / (1.0 + s) * math.pi / 2.0) ** 2

        return np.array([min(1.0 - abar_fn(i + 1) / abar_fn(i), 0.999) for i in range(T)], dtype=np.float64)
    if schedule == "scaled-linear":
        return np.linspace(math.sqrt(0.00085), math.sqrt(0.012), T, dtype=np.float64) ** 2
    if schedule == "sigmoid":
        z = np.linspace(-6.0, 6.0, T, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-z)) * (0.02 - 1e-4) + 1e-4
    raise ValueError(f"unknown beta schedule {schedule!r}")


def alphas_cumprod(schedule, T):
    return np.cumprod(1.0 - betas_for(schedule, T))


def schedule_sigmas(schedule, T):
    abar = alphas_cumprod(schedule, T)
    return np.sqrt((1.0 - abar) / abar)


def spaced_timesteps(spacing, T, steps, rounding="numpy"):
    """Timesteps of the respaced chain, descending (diffusers conventions).

    rounding="numpy" evaluates the definitions literally with NumPy's float
    linspace / arange, exactly as diffusers does; "exact" rounds the exact
    rational values (half to even).  They differ when an exact .5 tie comes out
    of NumPy's float arithmetic as x.4999... or x.5000...1 (e.g. T=1000,
    linspace with 27, 31, 47, 53, 61, ... steps; trailing with 48, 96, ...).
    For trailing, NumPy's arange sometimes yields steps+1 values (T=1000:
    61, 103, 121, ... steps; diffusers then ends on timestep -1); only the
    first `steps` values are used here.
    """
    T, steps = int(T), int(steps)
    if steps < 1 or steps > T:
        raise ValueError("need 1 <= steps <= timesteps")
    if rounding not in ("numpy", "exact"):
        raise ValueError(f"unknown spacing rounding {rounding!r}")
    if spacing == "linspace":
        if rounding == "numpy":
            ts = np.round(np.linspace(0, T - 1, steps))[::-1]
        else:
            ts = np.array([round(Fraction(i * (T - 1), max(steps - 1, 1))) for i in range(steps)])[::-1]
    elif spacing == "leading":
        ts = (np.arange(steps) * (T // steps))[::-1]
    elif spacing == "trailing":
        if rounding == "numpy":
            ts = (np.round(np.arange(T, 0, -T / steps)) - 1)[:steps]
        else:
            ts = np.array([round(Fraction(T) - Fraction(i * T, steps)) - 1 for i in range(steps)])
    else:
        raise ValueError(f"unknown spacing {spacing!r}")
    return np.asarray(ts).astype(np.int64)


def karras_sigmas(steps, sigma_min, sigma_max, rho=7.0):
    ramp = np.linspace(0.0, 1.0, int(steps))
    lo = sigma_min ** (1.0 / rho)
    hi = sigma_max ** (1.0 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def build_sigmas(formulation, schedule, steps, T=1000, spacing="linspace", beta_schedule="linear",
                 sigma_min=None, sigma_max=None, rho=7.0, spacing_rounding="numpy"):
    """Return the noise grid (length steps + 1, ending in 0)."""
    if schedule == "karras":
        if formulation == "vp":
            s = schedule_sigmas(beta_schedule, T)
            smin = s[0] if sigma_min is None else sigma_min
            smax = s[-1] if sigma_max is None else sigma_max
        elif formulation == "sigma":
            smin = 0.002 if sigma_min is None else sigma_min
            smax = 80.0 if sigma_max is None else sigma_max
        else:
            raise ValueError(f"unknown formulation {formulation!r}")
        grid = karras_sigmas(steps, float(smin), float(smax), rho)
    else:
        if formulation not in ("vp", "sigma"):
            raise ValueError(f"unknown formulation {formulation!r}")
        s = schedule_sigmas(schedule, T)
        grid = s[spaced_timesteps(spacing, T, steps, spacing_rounding)]
    return np.concatenate([np.asarray(grid, dtype=np.float64), [0.0]])


def initial_x(formulation, z, sigma0):
    if formulation == "vp":
        return z * math.sqrt(1.0 + sigma0 * sigma0)
    return z * sigma0


# ---------------------------------------------------------------------------
# Samplers (sigma space: x = x0 + sigma * eps; model(x, sigma) = E[x0 | x])
# ---------------------------------------------------------------------------


class Counted:
    def __init__(self, fn):
        self.fn = fn
        self.nfe = 0

    def __call__(self, x, sigma):
        self.nfe += 1
        return self.fn(x, float(sigma))


def sample_euler(model, x, sigmas, **_):
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        d = (x - den) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


def ancestral_step(s_from, s_to, eta):
    if not eta:
        return s_to, 0.0
    up = min(s_to, eta * math.sqrt(s_to**2 * (s_from**2 - s_to**2) / s_from**2))
    down = math.sqrt(s_to**2 - up**2)
    return down, up


def sample_euler_ancestral(model, x, sigmas, noise=None, eta=1.0, s_noise=1.0, **_):
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        down, up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        d = (x - den) / sigmas[i]
        x = x + d * (down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise.next() * s_noise * up
    return x


def sample_heun(model, x, sigmas, **_):
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        d = (x - den) / sigmas[i]
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x2 = x + d * dt
            den2 = model(x2, sigmas[i + 1])
            d2 = (x2 - den2) / sigmas[i + 1]
            x = x + 0.5 * (d + d2) * dt
    return x


def sample_dpmpp_2m(model, x, sigmas, **_):
    old = None
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        s, sn = sigmas[i], sigmas[i + 1]
        if sn == 0:
            # t_next = +inf: sigma ratio 0, -(e^{-h} - 1) = 1
            x = den
        else:
            h = math.log(s) - math.log(sn)
            if old is None:
                x = (sn / s) * x - math.expm1(-h) * den
            else:
                h_last = math.log(sigmas[i - 1]) - math.log(s)
                r = h_last / h
                dd = (1.0 + 1.0 / (2.0 * r)) * den - (1.0 / (2.0 * r)) * old
                x = (sn / s) * x - math.expm1(-h) * dd
        old = den
    return x


def sample_dpmpp_2m_sde(model, x, sigmas, noise=None, eta=1.0, s_noise=1.0, **_):
    old = None
    h_last = None
    h = None
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        s, sn = sigmas[i], sigmas[i + 1]
        if sn == 0:
            x = den
        else:
            h = math.log(s) - math.log(sn)
            eta_h = eta * h
            x = (sn / s) * math.exp(-eta_h) * x + (-math.expm1(-h - eta_h)) * den
            if old is not None:
                r = h_last / h
                x = x + 0.5 * (-math.expm1(-h - eta_h)) * (1.0 / r) * (den - old)  # midpoint
            if eta:
                x = x + noise.next() * sn * math.sqrt(-math.expm1(-2.0 * eta_h)) * s_noise
        old = den
        h_last = h
    return x


def lms_coeff(order, t, i, j):
    """Exact integral over [t[i], t[i+1]] of the Lagrange basis polynomial of
    node t[i-j] on the nodes t[i], t[i-1], ..., t[i-order+1]."""
    P = np.polynomial.Polynomial
    poly = P([1.0])
    for k in range(order):
        if k == j:
            continue
        poly = poly * P([-t[i - k], 1.0]) / (t[i - j] - t[i - k])
    anti = poly.integ()
    return float(anti(t[i + 1]) - anti(t[i]))


def sample_lms(model, x, sigmas, order=4, **_):
    ds = []
    for i in range(len(sigmas) - 1):
        den = model(x, sigmas[i])
        ds.append((x - den) / sigmas[i])
        if len(ds) > order:
            ds.pop(0)
        cur = min(i + 1, order)
        coeffs = [lms_coeff(cur, sigmas, i, j) for j in range(cur)]
        x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x


def _vp_pair(s_t, s_s):
    abar_t = 1.0 / (1.0 + s_t * s_t)
    abar_s = 1.0 / (1.0 + s_s * s_s)
    return abar_t, abar_s


def sample_ddim(model, x, sigmas, noise=None, eta=0.0, **_):
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        x0 = model(x, s)
        eps = (x - x0) / s
        abar_t, abar_s = _vp_pair(s, sn)
        sd = eta * math.sqrt((1.0 - abar_s) / (1.0 - abar_t)) * math.sqrt(1.0 - abar_t / abar_s)
        dir_coef = math.sqrt(max(1.0 - abar_s - sd * sd, 0.0))
        xs = math.sqrt(abar_s) * x0 + dir_coef * eps
        if sd > 0:
            xs = xs + sd * noise.next()
        x = xs / math.sqrt(abar_s)
    return x


def sample_ddpm(model, x, sigmas, noise=None, variance="beta-tilde", **_):
    for i in range(len(sigmas) - 1):
        s, sn = sigmas[i], sigmas[i + 1]
        x0 = model(x, s)
        abar_t, abar_s = _vp_pair(s, sn)
        alpha = abar_t / abar_s
        beta = 1.0 - alpha
        x_vp = x * math.sqrt(abar_t)
        c0 = math.sqrt(abar_s) * beta / (1.0 - abar_t)
        ct = math.sqrt(alpha) * (1.0 - abar_s) / (1.0 - abar_t)
        mean = c0 * x0 + ct * x_vp
        if sn > 0:
            if variance == "beta-tilde":
                var = beta * (1.0 - abar_s) / (1.0 - abar_t)
            elif variance == "beta":
                var = beta
            else:
                raise ValueError(f"unknown variance {variance!r}")
            mean = mean + math.sqrt(var) * noise.next()
        x = mean / math.sqrt(abar_s)
    return x


def _unipc_coeffs(h, rks, order, variant):
    """UniPC (B(h) version, data prediction): returns hh, h_phi_1, B_h and the
    R matrix / b vector of the order conditions (rows i = 1..order)."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1.0
    fact = 1.0
    if variant == "bh1":
        B_h = hh
    elif variant == "bh2":
        B_h = math.expm1(hh)
    else:
        raise ValueError(f"unknown UniPC variant {variant!r}")
    R = np.empty((order, order))
    b = np.empty(order)
    rk = np.asarray(rks, dtype=np.float64)
    for i in range(1, order + 1):
        R[i - 1] = rk ** (i - 1)
        b[i - 1] = h_phi_k * fact / B_h
        fact *= i + 1
        h_phi_k = h_phi_k / hh - 1.0 / fact
    return h_phi_1, B_h, R, b


def sample_unipc(model, x, sigmas, order=2, variant="bh2", **_):
    """UniPC multistep (diffusers UniPCMultistepScheduler, predict_x0=True,
    lower_order_final=True, no disabled corrector steps) in sigma space with
    alpha = 1, lambda = -log(sigma)."""
    N = len(sigmas) - 1
    lam = lambda s: -math.log(s)  # noqa: E731
    outputs = []  # newest last, at most `order` entries: (m, step index)
    last_sample = None
    this_order = None
    lower_order_nums = 0
    for i in range(N):
        m = model(x, sigmas[i])
        # ---- corrector UniC on the step i-1 -> i ----
        if i > 0 and last_sample is not None:
            p = this_order
            m0 = outputs[-1]
            s_t, s_0 = sigmas[i], sigmas[i - 1]
            h = lam(s_t) - lam(s_0)
            rks, D1s = [], []
            for k in range(1, p):
                mk = outputs[-(k + 1)]
                rk = (lam(sigmas[i - (k + 1)]) - lam(s_0)) / h
                rks.append(rk)
                D1s.append((mk - m0) / rk)
            rks.append(1.0)
            h_phi_1, B_h, R, b = _unipc_coeffs(h, rks, p, variant)
            rhos_c = np.array([0.5]) if p == 1 else np.linalg.solve(R, b)
            x_t_ = (s_t / s_0) * last_sample - h_phi_1 * m0
            corr = sum(rhos_c[k] * D1s[k] for k in range(len(D1s))) if D1s else 0.0
            x = x_t_ - B_h * (corr + rhos_c[-1] * (m - m0))
        outputs.append(m)
        if len(outputs) > order:
            outputs.pop(0)
        this_order = min(order, N - i)  # lower_order_final
        this_order = min(this_order, lower_order_nums + 1)  # warm-up
        last_sample = x
        # ---- predictor UniP on the step i -> i+1 ----
        p = this_order
        m0 = outputs[-1]
        s_t, s_0 = sigmas[i + 1], sigmas[i]
        if s_t == 0:
            if p != 1:
                raise ValueError("UniPC step to sigma 0 must be first order")
            # lambda_t = +inf: sigma ratio 0, h*phi_1 = expm1(-inf) = -1
            x = m0.copy()
        else:
            h = lam(s_t) - lam(s_0)
            rks, D1s = [], []
            for k in range(1, p):
                mk = outputs[-(k + 1)]
                rk = (lam(sigmas[i - k]) - lam(s_0)) / h
                rks.append(rk)
                D1s.append((mk - m0) / rk)
            rks.append(1.0)
            h_phi_1, B_h, R, b = _unipc_coeffs(h, rks, p, variant)
            x_t_ = (s_t / s_0) * x - h_phi_1 * m0
            if D1s:
                rhos_p = np.array([0.5]) if p == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
                pred = sum(rhos_p[k] * D1s[k] for k in range(len(D1s)))
                x = x_t_ - B_h * pred
            else:
                x = x_t_
        if lower_order_nums < order:
            lower_order_nums += 1
    return x


SAMPLER_FNS = {
    "euler": sample_euler,
    "euler-ancestral": sample_euler_ancestral,
    "heun": sample_heun,
    "dpmpp-2m": sample_dpmpp_2m,
    "dpmpp-2m-sde": sample_dpmpp_2m_sde,
    "lms": sample_lms,
    "ddim": sample_ddim,
    "ddpm": sample_ddpm,
    "unipc": sample_unipc,
}


def run_sampler(name, denoise, x, sigmas, seed=0, eta=None, variance="beta-tilde", order=None,
                variant="bh2", first_index=0):
    """Run sampler `name`; returns (x_final, nfe)."""
    if name not in SAMPLER_FNS:
        raise ValueError(f"unknown sampler {name!r}")
    model = Counted(denoise)
    n, dim = x.shape
    kw = {"noise": NoiseStreams(seed, n, dim, purpose=1, first_index=first_index)}
    if name in ("euler-ancestral", "dpmpp-2m-sde"):
        kw["eta"] = 1.0 if eta is None else float(eta)
    elif name == "ddim":
        kw["eta"] = 0.0 if eta is None else float(eta)
    if name == "ddpm":
        kw["variance"] = variance
    if name == "lms":
        kw["order"] = 4 if order is None else int(order)
    if name == "unipc":
        kw["order"] = 2 if order is None else int(order)
        kw["variant"] = variant
    sig = [float(s) for s in sigmas]
    out = SAMPLER_FNS[name](model, np.array(x, dtype=np.float64), sig, **kw)
    return out, model.nfe


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--formulation", choices=("vp", "sigma"), default="vp")
    ap.add_argument("--schedule", choices=("linear", "cosine", "scaled-linear", "sigmoid", "karras"), default="linear")
    ap.add_argument("--beta-schedule", choices=("linear", "cosine", "scaled-linear", "sigmoid"), default="linear")
    ap.add_argument("--timesteps", type=int, default=1000)
    ap.add_argument("--spacing", choices=("linspace", "leading", "trailing"), default="linspace")
    ap.add_argument("--spacing-rounding", choices=("numpy", "exact"), default="numpy",
                    help="numpy: diffusers' literal float linspace/arange (default); exact: exact rationals")
    ap.add_argument("--sigma-min", type=float, default=None)
    ap.add_argument("--sigma-max", type=float, default=None)
    ap.add_argument("--rho", type=float, default=7.0)
    ap.add_argument("--sampler", required=True, choices=SAMPLERS)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--eta", type=float, default=None)
    ap.add_argument("--variance", choices=("beta", "beta-tilde"), default="beta-tilde")
    ap.add_argument("--order", type=int, default=None)
    ap.add_argument("--variant", choices=("bh1", "bh2"), default="bh2")
    ap.add_argument("--init-noise", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    gmm = GaussianMixture.load(a.model)
    z = np.load(a.init_noise).astype(np.float64)
    if z.ndim != 2 or z.shape[1] != gmm.dim:
        raise SystemExit(f"init noise shape {z.shape} does not match model dim {gmm.dim}")
    sigmas = build_sigmas(a.formulation, a.schedule, a.steps, T=a.timesteps, spacing=a.spacing,
                          beta_schedule=a.beta_schedule, sigma_min=a.sigma_min, sigma_max=a.sigma_max, rho=a.rho,
                          spacing_rounding=a.spacing_rounding)
    x = initial_x(a.formulation, z, float(sigmas[0]))
    out, nfe = run_sampler(a.sampler, gmm.denoise, x, sigmas, seed=a.seed, eta=a.eta, variance=a.variance,
                           order=a.order, variant=a.variant)
    np.save(a.out, np.ascontiguousarray(out, dtype="<f8"))
    print(json.dumps({"nfe": nfe, "sigmas": [float(s) for s in sigmas]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
