#!/usr/bin/env python3
"""Self-check of the reference oracle (ref_sample.py).

  /usr/bin/python3 tests/reference/self_check.py

(a) Philox4x32-10 known-answer vectors (Random123 kat_vectors);
(b) on a single Gaussian, the deterministic samplers converge to the exact
    probability-flow ODE solution with their expected orders;
(c) published schedule values (linear T=1000: alpha_bar[999] ~ 4.04e-5) and
    diffusers' timestep spacings;
(d) algebraic identities between samplers (DDIM eta=0 == Euler;
    DDIM eta=1 == DDPM beta-tilde == Euler-ancestral eta=1, same noise);
(e) noise streams: per-sample independence of batch layout, N(0,1) moments;
    stochastic samplers reproduce the single-Gaussian data distribution.
Exits non-zero on any failure.
"""

import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_sample as R  # noqa: E402

FAILED = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (("  " + detail) if detail else ""))
    if not ok:
        FAILED.append(name)


# ---------------------------------------------------------------- (a)
def check_philox():
    kats = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ]
    for ctr, key, want in kats:
        got = tuple(int(v) for v in R.philox4x32_10(*ctr, *key))
        check(
            "philox KAT ctr=%s key=%s" % ("/".join("%08x" % c for c in ctr), "/".join("%08x" % k for k in key)),
            got == want,
            " ".join("%08x" % g for g in got),
        )


# ---------------------------------------------------------------- (b)
def check_convergence():
    mu, s = 0.7, 0.5
    gmm = R.GaussianMixture([1.0], [[mu]], [s])
    smin, smax = 0.002, 80.0
    z = np.array([[-1.3], [0.2], [0.9], [2.1]])
    xT = z * smax

    def exact(sig):  # probability-flow ODE: x(sig) = mu + (x_T - mu) sqrt(s^2+sig^2)/sqrt(s^2+smax^2)
        return mu + (xT - mu) * math.sqrt(s * s + sig * sig) / math.sqrt(s * s + smax * smax)

    x0_exact = exact(0.0)  # = mu + (x_T - mu) s / sqrt(s^2 + smax^2)
    # Every sampler here except LMS ends with x = D(x, sigma_min) on the last
    # step (sigma_min -> 0); its limit as steps -> inf is D(x_exact(sigma_min)),
    # which differs from x(0) by a fixed O(sigma_min^2) amount.  We measure the
    # order against that limit and report the distance to x(0) separately.
    x0_limit_D = gmm.denoise(exact(smin), smin)
    print("    exact x(0) = %s; terminal bias of a final denoise step = %.2e"
          % (np.array2string(x0_exact.ravel(), precision=6), np.abs(x0_limit_D - x0_exact).max()))

    cases = [
        ("euler", {}, 1, 0.9),
        ("ddim", {"eta": 0.0}, 1, 0.9),
        ("heun", {}, 2, 1.8),
        ("dpmpp-2m", {}, 2, 1.8),
        ("lms", {"order": 4}, 4, 3.5),
        ("unipc", {"order": 2, "variant": "bh2"}, 3, 2.7),
        ("unipc", {"order": 2, "variant": "bh1"}, 3, 2.7),
        ("unipc", {"order": 3, "variant": "bh2"}, 4, 3.5),
    ]
    Ns = [10, 20, 40, 80, 160]
    for name, kw, expect, lo in cases:
        target = x0_exact if name == "lms" else x0_limit_D
        errs = []
        for N in Ns:
            sig = R.build_sigmas("sigma", "karras", N, sigma_min=smin, sigma_max=smax)
            out, _ = R.run_sampler(name, gmm.denoise, xT, sig, **kw)
            errs.append(np.abs(out - target).max())
        errs = np.array(errs)
        slopes = -np.diff(np.log(errs)) / np.diff(np.log(Ns))
        fit = -np.polyfit(np.log(Ns[-3:]), np.log(errs[-3:]), 1)[0]
        label = name + ("(%s)" % ",".join("%s=%s" % kv for kv in kw.items()) if kw else "")
        check(
            "converges %-28s order ~%d" % (label, expect),
            fit >= lo and bool(np.all(np.diff(errs) < 0)),
            "errors %s  local orders %s  fitted %.2f  |x-x(0)|=%.1e"
            % (" ".join("%.1e" % e for e in errs), " ".join("%.2f" % v for v in slopes), fit,
               np.abs(out - x0_exact).max()),
        )


# ---------------------------------------------------------------- (c)
def check_schedules():
    ab = R.alphas_cumprod("linear", 1000)
    check("linear T=1000 alpha_bar[999] ~ 4.04e-5", abs(ab[-1] - 4.04e-5) < 0.01e-5, "%.6e" % ab[-1])
    check("linear T=1000 beta[0], beta[999]", np.allclose(R.betas_for("linear", 1000)[[0, -1]], [1e-4, 0.02], rtol=0, atol=1e-15))
    check("linear T=500 scaled to beta in [2e-4, 0.04]", np.allclose(R.betas_for("linear", 500)[[0, -1]], [2e-4, 0.04], rtol=0, atol=1e-15))
    bc = R.betas_for("cosine", 1000)
    abc = R.alphas_cumprod("cosine", 1000)
    check("cosine betas clipped at 0.999, increasing", bc.max() <= 0.999 and bc[-1] == 0.999 and np.all(np.diff(bc) > 0),
          "beta[0]=%.3e alpha_bar[999]=%.3e" % (bc[0], abc[-1]))
    bs = R.betas_for("scaled-linear", 1000)
    check("scaled-linear endpoints 0.00085 / 0.012", np.allclose(bs[[0, -1]], [0.00085, 0.012], rtol=1e-13))
    bg = R.betas_for("sigmoid", 1000)
    check("sigmoid betas in (1e-4, 0.02), symmetric", bg.min() > 1e-4 and bg.max() < 0.02 and abs(bg[0] + bg[-1] - 0.0201) < 1e-12)
    exp = {
        "linspace": [999, 888, 777, 666, 555, 444, 333, 222, 111, 0],
        "leading": [900, 800, 700, 600, 500, 400, 300, 200, 100, 0],
        "trailing": [999, 899, 799, 699, 599, 499, 399, 299, 199, 99],
    }
    for sp, want in exp.items():
        got = R.spaced_timesteps(sp, 1000, 10).tolist()
        check("spacing %-8s T=1000 steps=10" % sp, got == want, str(got))
    got = R.spaced_timesteps("linspace", 1000, 4).tolist()
    check("spacing linspace rounds half to even (T=1000, 4 steps)", got == [999, 666, 333, 0], str(got))
    for sp, st, idx in (("linspace", 27, 13), ("trailing", 48, 3)):
        a = R.spaced_timesteps(sp, 1000, st, "numpy")
        b = R.spaced_timesteps(sp, 1000, st, "exact")
        nd = int((a != b).sum())
        check("spacing %s T=1000 steps=%d: numpy float tie vs exact rational" % (sp, st),
              nd >= 1 and abs(int(a[idx]) - int(b[idx])) == 1,
              "%d timestep(s) differ, e.g. numpy %d vs exact %d" % (nd, a[idx], b[idx]))
    ok = all(len(R.spaced_timesteps("trailing", 1000, st)) == st and R.spaced_timesteps("trailing", 1000, st).min() >= 0
             for st in (61, 103, 121))
    check("trailing: numpy arange's extra value dropped (T=1000, 61/103/121 steps)", ok)
    bad = [(sp, T, st) for T in (1000, 500) for st in range(1, T + 1) for sp in ("linspace", "trailing")
           if not np.array_equal(R.spaced_timesteps(sp, T, st, "numpy"), R.spaced_timesteps(sp, T, st, "exact"))
           and np.abs(R.spaced_timesteps(sp, T, st, "numpy") - R.spaced_timesteps(sp, T, st, "exact")).max() > 1]
    check("numpy vs exact spacing never differ by more than one timestep", not bad, str(bad[:5]))
    k = R.build_sigmas("sigma", "karras", 5)
    check("karras sigma grid 80 -> 0.002, then 0", abs(k[0] - 80) < 1e-12 and abs(k[-2] - 0.002) < 1e-15 and k[-1] == 0.0)
    sv = R.schedule_sigmas("linear", 1000)
    kv = R.build_sigmas("vp", "karras", 7)
    check("vp karras grid spans the beta schedule's sigmas", abs(kv[0] - sv[-1]) < 1e-9 * sv[-1] and abs(kv[-2] - sv[0]) < 1e-15)


# ---------------------------------------------------------------- (d)
def check_identities():
    gmm = R.GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.3, 0.5])
    z = np.random.default_rng(5).standard_normal((6, 2))
    for grid in [R.build_sigmas("vp", "linear", 25, spacing="leading"), R.build_sigmas("sigma", "karras", 12)]:
        x = z * grid[0]
        e, _ = R.run_sampler("euler", gmm.denoise, x, grid)
        d0, _ = R.run_sampler("ddim", gmm.denoise, x, grid, eta=0.0)
        check("ddim(eta=0) == euler  [grid %d steps]" % (len(grid) - 1), np.abs(e - d0).max() < 1e-10, "%.1e" % np.abs(e - d0).max())
        a, _ = R.run_sampler("euler-ancestral", gmm.denoise, x, grid, seed=11)
        p, _ = R.run_sampler("ddpm", gmm.denoise, x, grid, seed=11)
        d1, _ = R.run_sampler("ddim", gmm.denoise, x, grid, seed=11, eta=1.0)
        m = max(np.abs(a - p).max(), np.abs(a - d1).max())
        check("euler-ancestral == ddpm(beta-tilde) == ddim(eta=1)  [grid %d steps]" % (len(grid) - 1), m < 1e-9, "%.1e" % m)
    # LMS coefficients: exact integrals of the Lagrange basis
    sig = R.build_sigmas("sigma", "karras", 10)
    i = 5
    c = [R.lms_coeff(4, sig, i, j) for j in range(4)]
    gx, gw = np.polynomial.legendre.leggauss(8)
    a_, b_ = sig[i], sig[i + 1]
    tau = 0.5 * (b_ - a_) * gx + 0.5 * (b_ + a_)
    ref = []
    for j in range(4):
        v = np.ones_like(tau)
        for k in range(4):
            if k != j:
                v *= (tau - sig[i - k]) / (sig[i - j] - sig[i - k])
        ref.append(0.5 * (b_ - a_) * np.dot(gw, v))
    check("lms coefficients == Gauss-Legendre integral, sum == step", np.allclose(c, ref, rtol=1e-12, atol=1e-15) and abs(sum(c) - (b_ - a_)) < 1e-13)
    # NFE accounting
    nfe = {nm: R.run_sampler(nm, gmm.denoise, z * 80, R.build_sigmas("sigma", "karras", 9))[1] for nm in R.SAMPLERS}
    want = {nm: 9 for nm in R.SAMPLERS}
    want["heun"] = 17
    check("NFE: steps for all, 2*steps-1 for heun", nfe == want, str(nfe))


def unipc_vp_space(denoise, x_sigma, sigmas, order, variant):
    """UniPC written literally in diffusers' VP variables (x_vp = alpha x,
    alpha = 1/sqrt(1+sigma^2), sigma_vp = sigma*alpha, lambda = log alpha -
    log sigma_vp), as a cross-check of the sigma-space translation."""
    N = len(sigmas) - 1
    al = lambda s: 1.0 / math.sqrt(1.0 + s * s)  # noqa: E731
    lam = lambda s: math.log(al(s)) - math.log(s * al(s))  # noqa: E731
    x = x_sigma * al(sigmas[0])
    outs, last, this_order, lon = [None] * order, None, None, 0

    def coeffs(h, rks, p):
        hh = -h
        hp1 = math.expm1(hh)
        hpk = hp1 / hh - 1
        B = hh if variant == "bh1" else math.expm1(hh)
        Rm, bv, f = [], [], 1
        for k in range(1, p + 1):
            Rm.append([r ** (k - 1) for r in rks])
            bv.append(hpk * f / B)
            f *= k + 1
            hpk = hpk / hh - 1 / f
        return hp1, B, np.array(Rm), np.array(bv)

    for i in range(N):
        m = denoise(x / al(sigmas[i]), sigmas[i])
        if i > 0:
            m0 = outs[-1]
            a_t, s_t, s_0 = al(sigmas[i]), sigmas[i] * al(sigmas[i]), sigmas[i - 1] * al(sigmas[i - 1])
            h = lam(sigmas[i]) - lam(sigmas[i - 1])
            rks = [(lam(sigmas[i - k - 1]) - lam(sigmas[i - 1])) / h for k in range(1, this_order)] + [1.0]
            D1 = [(outs[-(k + 1)] - m0) / rks[k - 1] for k in range(1, this_order)]
            hp1, B, Rm, bv = coeffs(h, rks, this_order)
            rc = np.array([0.5]) if this_order == 1 else np.linalg.solve(Rm, bv)
            corr = sum(rc[k] * D1[k] for k in range(len(D1))) if D1 else 0
            x = s_t / s_0 * last - a_t * hp1 * m0 - a_t * B * (corr + rc[-1] * (m - m0))
        outs = outs[1:] + [m]
        this_order = min(min(order, N - i), lon + 1)
        last = x
        m0 = outs[-1]
        if sigmas[i + 1] == 0:
            x = m0  # alpha_t = 1, sigma_t = 0, h*phi_1 = -1
        else:
            a_t, s_t, s_0 = al(sigmas[i + 1]), sigmas[i + 1] * al(sigmas[i + 1]), sigmas[i] * al(sigmas[i])
            h = lam(sigmas[i + 1]) - lam(sigmas[i])
            rks = [(lam(sigmas[i - k]) - lam(sigmas[i])) / h for k in range(1, this_order)] + [1.0]
            D1 = [(outs[-(k + 1)] - m0) / rks[k - 1] for k in range(1, this_order)]
            hp1, B, Rm, bv = coeffs(h, rks, this_order)
            x = s_t / s_0 * x - a_t * hp1 * m0
            if D1:
                rp = np.array([0.5]) if this_order == 2 else np.linalg.solve(Rm[:-1, :-1], bv[:-1])
                x = x - a_t * B * sum(rp[k] * D1[k] for k in range(len(D1)))
        lon = min(lon + 1, order)
    return x


def check_unipc_vp():
    gmm = R.GaussianMixture([0.3, 0.7], [[-2.0, 0.0], [2.0, 1.0]], [0.3, 0.5])
    z = np.random.default_rng(6).standard_normal((6, 2))
    for order, variant, steps in ((1, "bh2", 7), (2, "bh2", 10), (2, "bh1", 6), (3, "bh2", 12), (3, "bh1", 20), (4, "bh2", 9)):
        grid = R.build_sigmas("vp", "linear", steps, spacing="trailing")
        x = R.initial_x("vp", z, grid[0])
        a, _ = R.run_sampler("unipc", gmm.denoise, x, grid, order=order, variant=variant)
        b = unipc_vp_space(gmm.denoise, x, grid, order, variant)
        err = np.abs(a - b).max() / np.abs(b).max()
        check("unipc order=%d %s %d steps: sigma space == diffusers VP-space form" % (order, variant, steps), err < 1e-10, "rel %.1e" % err)


# ---------------------------------------------------------------- (e)
def check_noise_and_distribution():
    big = R.NoiseStreams(seed=2**33 + 7, n=10, dim=5)
    sub = R.NoiseStreams(seed=2**33 + 7, n=3, dim=5, first_index=4)
    a1, a2 = big.next(), big.next()
    b1, b2 = sub.next(), sub.next()
    check("stream of sample j independent of batch layout", np.array_equal(a1[4:7], b1) and np.array_equal(a2[4:7], b2))
    # dim=5 consumes 2 blocks per read: the second read starts at block 2
    w = R.philox4x32_10(np.uint64(2), 0, 0, 1, 7, 2)
    manual = R.box_muller(*w)
    check("read k starts at block k*ceil(dim/4)", np.allclose(a2[0, :4], manual, rtol=0, atol=0))
    v = R.NoiseStreams(seed=3, n=20000, dim=7).next().ravel()
    check("normals: mean ~0, var ~1", abs(v.mean()) < 0.02 and abs(v.var() - 1) < 0.03, "mean %.4f var %.4f" % (v.mean(), v.var()))

    # Stochastic samplers on a single Gaussian N(mu, s^2): the discrete chains
    # are biased by O(step) (e.g. DDPM with beta-tilde under-disperses), so we
    # check that the sample moments approach the data's as the grid refines.
    mu, s = 0.7, 0.5
    gmm = R.GaussianMixture([1.0], [[mu]], [s])
    z = np.random.default_rng(9).standard_normal((10000, 1))
    for nm, form, sched, coarse, fine, kw in [
        ("ddpm", "vp", "linear", 50, 1000, {}),
        ("ddpm", "vp", "cosine", 50, 500, {"variance": "beta"}),
        ("ddim", "vp", "linear", 50, 500, {"eta": 0.5}),
        ("euler-ancestral", "sigma", "karras", 40, 400, {}),
        ("dpmpp-2m-sde", "sigma", "karras", 20, 200, {}),
    ]:
        res = []
        for steps in (coarse, fine):
            grid = R.build_sigmas(form, sched, steps, spacing="leading")
            x = R.initial_x(form, z, grid[0])
            out, _ = R.run_sampler(nm, gmm.denoise, x, grid, seed=4, **kw)
            res.append((out.mean(), out.std()))
        (m0, s0), (m1, s1) = res
        check("%s%s %s/%s -> N(%.1f, %.1f^2) as steps grow" % (nm, kw or "", form, sched, mu, s),
              abs(m1 - mu) < 0.015 and abs(s1 - s) < 0.015,
              "%d steps: mean %.4f std %.4f | %d steps: mean %.4f std %.4f" % (coarse, m0, s0, fine, m1, s1))


if __name__ == "__main__":
    print("(a) Philox4x32-10 known-answer vectors")
    check_philox()
    print("(b) convergence to the exact ODE solution (single Gaussian mu=0.7 s=0.5, karras 80 -> 0.002)")
    check_convergence()
    print("(c) schedules and spacing")
    check_schedules()
    print("(d) sampler identities, LMS coefficients, NFE")
    check_identities()
    check_unipc_vp()
    print("(e) noise streams and stochastic samplers")
    check_noise_and_distribution()
    print("FAILED: " + ", ".join(FAILED) if FAILED else "ALL PASSED")
    sys.exit(1 if FAILED else 0)
