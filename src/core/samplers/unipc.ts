/**
 * UniPC (Zhao et al. 2023, "UniPC: a unified predictor-corrector framework"), data prediction (predict_x0), as in
 * diffusers' UniPCMultistepScheduler. In sigma space alpha = 1, sigma = sigma_i and lambda = -log sigma; the VP
 * formulas divided by alpha_t are identical.
 *
 * Step i (x at sigma_i, m_i = D(x; sigma_i)):
 *  1. UniC corrector: unless i = 0 or i - 1 is in disableCorrector, re-do the previous step from its start point with
 *     m_i included (order p of that step, accuracy p + 1). It reuses the model call already made at the predicted
 *     x, so NFE = steps. The next step starts from the corrected x; the stored m_i stays the one at the predicted x.
 *  2. UniP predictor of order p = min(order, steps already taken + 1) (and, with lowerOrderFinal, <= steps - i).
 * The last step's prediction is returned uncorrected (no model call at the final sigma). onStep reports the
 * predicted x, the one the model saw (so x = x0Pred + sigma * epsPred holds), before its correction.
 */
import type { Sampler, Vec } from '../types.ts';
import { like, resolveOptions, runSteps } from './common.ts';

export interface UniPCOptions {
  /** Predictor order p; with the corrector the update has order p + 1. */
  order: number;
  /** B(h) = h (bh1) or e^h - 1 (bh2). */
  variant: 'bh1' | 'bh2';
  /** Drop to order 1 on the last step and <= 2 on the one before (diffusers' lower_order_final). */
  lowerOrderFinal: boolean;
  /** Steps whose result is not corrected (diffusers' disable_corrector). */
  disableCorrector?: number[];
}

export const UNIPC_DEFAULTS: UniPCOptions = { order: 2, variant: 'bh2', lowerOrderFinal: true };

/** Solve A y = b (small, dense) by Gaussian elimination with partial pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row.slice(0, n), b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let acc = M[r][n];
    for (let k = r + 1; k < n; k++) acc -= M[r][k] * y[k];
    y[r] = acc / M[r][r];
  }
  return y;
}

interface UniCoefficients {
  /** h phi_1(hh) = e^hh - 1 with hh = -h. */
  hPhi1: number;
  Bh: number;
  /** R[k][j] = r_j^k (r = [r_1 .. r_{p-1}, 1]), b[k] = (k+1)! h phi_{k+2}(hh) / B(h) as in diffusers. */
  R: number[][];
  b: number[];
}

/** The shared part of UniP and UniC for a step of length h in lambda with relative past offsets rks. */
function coefficients(h: number, rks: number[], order: number, variant: 'bh1' | 'bh2'): UniCoefficients {
  const hh = -h;
  const hPhi1 = Math.expm1(hh);
  const Bh = variant === 'bh1' ? hh : Math.expm1(hh);
  const r = [...rks, 1];
  const R: number[][] = [];
  const b: number[] = [];
  let hPhiK = hPhi1 / hh - 1;
  let factorial = 1;
  for (let k = 1; k <= order; k++) {
    R.push(r.map((v) => v ** (k - 1)));
    b.push((hPhiK * factorial) / Bh);
    factorial *= k + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  return { hPhi1, Bh, R, b };
}

export const sampleUniPC: Sampler<UniPCOptions> = async (args, options) => {
  const name = 'unipc';
  const o = resolveOptions(name, UNIPC_DEFAULTS, options, ['disableCorrector']);
  if (![1, 2, 3].includes(o.order)) throw new RangeError(`${name}: option "order" must be 1, 2 or 3, got ${o.order}`);
  if (o.variant !== 'bh1' && o.variant !== 'bh2') {
    throw new RangeError(`${name}: option "variant" must be 'bh1' or 'bh2', got ${o.variant}`);
  }
  if (
    o.disableCorrector !== undefined &&
    !(Array.isArray(o.disableCorrector) && o.disableCorrector.every(Number.isInteger))
  ) {
    throw new TypeError(`${name}: option "disableCorrector" must be an array of step indices`);
  }
  const disabled = new Set(o.disableCorrector ?? []);
  const sigmas = args.sigmas;
  const lambda = (j: number) => -Math.log(sigmas[j]);
  // The last order + 1 model outputs, newest last (hist[len - 1 - k] = m_{i-k}), and the previous predictor's
  // start point and order (for the corrector).
  const hist: Vec[] = [];
  let lastSample: Vec | null = null;
  let lastOrder = 0;

  return runSteps(args, { name, needsNoise: false }, (s) => {
    const { i, steps } = s;
    const n = s.x.length;
    const mt = s.x0;
    let x = s.x;

    // UniC: correct the step (i - 1) -> i. Its base point is s0 = i - 1 with m0 = m_{i-1}, past points i - 1 - k.
    if (i > 0 && lastSample !== null && !disabled.has(i - 1)) {
      const p = lastOrder;
      const h = lambda(i) - lambda(i - 1);
      const rks: number[] = [];
      for (let k = 1; k < p; k++) rks.push((lambda(i - 1 - k) - lambda(i - 1)) / h);
      const c = coefficients(h, rks, p, o.variant);
      const rhos = p === 1 ? [0.5] : solve(c.R, c.b);
      // D1_k = (m_k - m0) / r_k enters as rho_k D1_k: one weight per past output.
      const past = rks.map((_, k) => hist[hist.length - 2 - k]);
      const w = rks.map((r, k) => rhos[k] / r);
      const rhoT = rhos[p - 1];
      const m0 = hist[hist.length - 1];
      const a = sigmas[i] / sigmas[i - 1];
      const prev = lastSample;
      const xc: Vec = like(x);
      for (let e = 0; e < n; e++) {
        const m0e = m0[e];
        let res = 0;
        for (let k = 0; k < past.length; k++) res += w[k] * (past[k][e] - m0e);
        res += rhoT * (mt[e] - m0e);
        xc[e] = a * prev[e] - c.hPhi1 * m0e - c.Bh * res;
      }
      x = xc;
    }
    hist.push(mt);
    if (hist.length > o.order + 1) hist.shift();

    // UniP from sigma_i to sigma_{i+1}. Warm-up: at most i + 1; lowerOrderFinal: at most steps - i. A step to
    // sigma = 0 (h = infinity) is first order: its multistep terms have no finite limit (diffusers relies on
    // lowerOrderFinal there; forcing it keeps lowerOrderFinal = false usable with a final 0).
    let p = Math.min(o.order, i + 1);
    if (o.lowerOrderFinal) p = Math.min(p, steps - i);
    if (s.sigmaNext === 0) p = 1;
    const h = lambda(i + 1) - lambda(i);
    const rks: number[] = [];
    for (let k = 1; k < p; k++) rks.push((lambda(i - k) - lambda(i)) / h);
    const c = coefficients(h, rks, p, o.variant);
    // diffusers: order 2 uses rho = 1/2 (the h -> 0 limit), order 3 solves the (p-1) x (p-1) system.
    const rhos = p === 1 ? [] : p === 2 ? [0.5] : solve(c.R.slice(0, p - 1), c.b.slice(0, p - 1));
    const past = rks.map((_, k) => hist[hist.length - 2 - k]);
    const w = rks.map((r, k) => rhos[k] / r);
    const a = s.sigmaNext / s.sigma;
    const xn: Vec = like(x);
    if (p === 1) {
      // No B(h) term at order 1: with bh1 and sigmaNext = 0, B(h) = -infinity and 0 * infinity would be NaN.
      for (let e = 0; e < n; e++) xn[e] = a * x[e] - c.hPhi1 * mt[e];
    } else {
      for (let e = 0; e < n; e++) {
        const m0e = mt[e];
        let res = 0;
        for (let k = 0; k < past.length; k++) res += w[k] * (past[k][e] - m0e);
        xn[e] = a * x[e] - c.hPhi1 * m0e - c.Bh * res;
      }
    }
    lastSample = x;
    lastOrder = p;
    return xn;
  });
};
