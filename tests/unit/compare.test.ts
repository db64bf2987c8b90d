/**
 * Sampler comparisons: a 3 x 3 grid over an analytic mixture (same z in every cell, true error shrinking with the
 * steps, the stored row and arrays), the `compare` command with its grid PNG and provenance chunks, and --run on a
 * toy run trained in-process for a few steps.
 */
import { cliCapture } from './helpers/run-cli.ts';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyticSource } from '../../src/compare/analytic-source.ts';
import { runComparison } from '../../src/compare/comparison.ts';
import { initialNoise } from '../../src/core/rng.ts';
import { decodeNpy } from '../../src/io/npy.ts';
import { decodePng, encodePng } from '../../src/io/png.ts';
import { addPngText, readPngText } from '../../src/io/png-text.ts';
import { openStore } from '../../src/store/open.ts';

const root = mkdtempSync(join(tmpdir(), 'ds-compare-'));
const mixture = {
  weights: [0.3, 0.7],
  means: [
    [-2, 0],
    [2, 1],
  ],
  stds: [0.3, 0.5],
};
const mixFile = join(root, 'mix.json');
writeFileSync(mixFile, JSON.stringify(mixture));

const cli = (args: string[]) => cliCapture(args);

describe('png tEXt chunks', () => {
  it('round-trip, keep the image decodable, and reject a corrupted chunk', async () => {
    const png = await encodePng({
      width: 3,
      height: 2,
      channels: 1,
      data: Uint8Array.from([0, 50, 100, 150, 200, 250]),
    });
    const entries = { Software: 'diffusion-studio 0.1.0', cells: '[{"sampler":"heun","steps":10}]', note: 'caf\u00e9' };
    const tagged = addPngText(png, entries);
    expect(readPngText(tagged)).toEqual(entries);
    expect(readPngText(png)).toEqual({});
    const img = await decodePng(tagged);
    expect(Array.from(img.data)).toEqual([0, 50, 100, 150, 200, 250]);
    const bad = Buffer.from(tagged);
    bad[bad.indexOf('Software') + 2] ^= 1;
    expect(() => readPngText(bad)).toThrow(/bad CRC in tEXt/);
    expect(() => addPngText(png, { 'bad\u2603': 'x' })).toThrow(/invalid keyword/);
  });
});

describe('analytic comparison', () => {
  it('runs 3 samplers x 3 step counts from one z, with true errors that shrink, and stores it', async () => {
    const store = openStore(join(root, 'a.db'));
    try {
      const source = analyticSource(mixture, { formulation: 'vp', schedule: 'linear' });
      const n = 64;
      const z = initialNoise(5, 0, n, 2, Float64Array);
      const starts: number[] = [];
      const result = await runComparison(
        { samplers: ['euler', 'heun', 'dpmpp-2m'], steps: [5, 10, 20], n, seed: 5 },
        source,
        {
          store,
          folder: join(root, 'cmp'),
          onStep: (cell, info) => {
            if (info.i !== 0) return;
            // x at the first noise level is z times that level's scale: recover z and compare.
            const scale = Math.sqrt(1 + info.sigma ** 2);
            let worst = 0;
            for (let i = 0; i < z.length; i++) worst = Math.max(worst, Math.abs(info.x[i] / scale - z[i]));
            expect(worst).toBeLessThan(1e-12);
            starts.push(cell);
          },
        },
      );
      // -1: the reference ODE solve starts from the same z as every cell.
      expect(starts).toEqual([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(result.rows).toEqual(['euler', 'heun', 'dpmpp-2m']);
      for (const row of result.rows) {
        const errs = result.cells.filter((c) => c.row === row).map((c) => c.error!);
        expect(result.cells.filter((c) => c.row === row).every((c) => c.errorKind === 'ode' && c.deterministic)).toBe(
          true,
        );
        expect(errs[1]).toBeLessThan(errs[0]);
        expect(errs[2]).toBeLessThan(errs[1]);
      }
      expect(result.cells.find((c) => c.row === 'heun' && c.steps === 10)!.nfe).toBe(19);
      expect(result.reference).toMatchObject({ sampler: 'heun', steps: 1000 });

      const row = store.getComparison(result.id!)!;
      expect(row.status).toBe('completed');
      expect(row.spec).toMatchObject({ samplers: ['euler', 'heun', 'dpmpp-2m'], steps: [5, 10, 20], n, seed: 5 });
      const stored = row.result as { cells: { file: string; error: number }[] };
      expect(stored.cells).toHaveLength(9);
      expect(stored.cells[0].error).toBeCloseTo(result.cells[0].error!, 12);
      const arr = decodeNpy(new Uint8Array(readFileSync(join(result.folder!, stored.cells[4].file))));
      expect(arr.shape).toEqual([n, 2]);
      expect(Array.from(arr.data as Float64Array)).toEqual(Array.from(result.samples[4]));
      expect(store.listComparisons().map((c) => c.id)).toContain(result.id);
    } finally {
      store.close();
    }
  });

  it('scores stochastic samplers by the sliced Wasserstein distance, and rejects eta for samplers without it', async () => {
    const source = analyticSource(mixture, { formulation: 'sigma', schedule: 'karras' });
    const r = await runComparison({ samplers: ['euler-ancestral'], steps: [20], eta: [0, 1], n: 64, seed: 1 }, source);
    expect(r.cells.map((c) => [c.row, c.errorKind])).toEqual([
      ['euler-ancestral eta=0', 'ode'],
      ['euler-ancestral eta=1', 'swd'],
    ]);
    expect(r.cells[1].error).toBe(r.cells[1].swd);
    await expect(runComparison({ samplers: ['heun'], steps: [5], eta: [1], n: 4, seed: 0 }, source)).rejects.toThrow(
      /heun has no eta option/,
    );
  });
});

describe('diffusion-studio compare', () => {
  const db = join(root, 'studio.db');

  it('prints the table, stores the row, and writes a labeled grid PNG with provenance', async () => {
    const grid = join(root, 'grid.png');
    const args = ['compare', '--model', `gmm:${mixFile}`, '--samplers', 'euler,heun,dpmpp-2m', '--steps', '5,10,20'];
    const r = await cli([...args, '--n', '64', '--seed', '2', '--grid', grid, '--db', db]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^comparison x_\w+: 9 cells, 64 samples each, seed 2 -> /m);
    expect(r.out).toMatch(/^sampler +5 steps +10 steps +20 steps$/m);
    expect(r.out).toMatch(/^heun +9 nfe +\d+ ms +[\d.e-]+ +19 nfe +\d+ ms +[\d.e-]+ +39 nfe/m);
    const id = /^comparison (x_\w+)/m.exec(r.out)![1];

    const png = readFileSync(grid);
    const text = readPngText(png);
    expect(text.Software).toMatch(/^diffusion-studio \d+\.\d+\.\d+/);
    expect(text.comparison).toBe(id);
    expect(text.seed).toBe('2');
    const cells = JSON.parse(text.cells) as { sampler: string; steps: number; seed: number }[];
    expect(cells).toHaveLength(9);
    expect(cells[3]).toMatchObject({ sampler: 'heun', steps: 5, seed: 2, eta: null });
    expect(JSON.parse(readFileSync(`${grid}.json`, 'utf8'))).toMatchObject({ comparison: id, seed: 2 });
    const img = await decodePng(png);
    expect(img.width).toBeGreaterThan(3 * 160);
    expect(img.height).toBeGreaterThan(3 * 160);

    const store = openStore(db, { readonly: true });
    try {
      expect(store.getComparison(id)!.status).toBe('completed');
    } finally {
      store.close();
    }
    const json = await cli([...args, '--n', '16', '--json', '--db', db]);
    const parsed = JSON.parse(json.out) as { cells: { errorKind: string }[]; folder: string };
    expect(parsed.cells.map((c) => c.errorKind)).toEqual(Array(9).fill('ode'));
    expect(existsSync(join(parsed.folder, 'reference.npy'))).toBe(true);
  });

  it('reports bad requests in one line with exit 2', async () => {
    const base = ['compare', '--db', db];
    for (const [args, message] of [
      [['--samplers', 'euler', '--steps', '5'], /give one of --model gmm:FILE or --run ID/],
      [['--model', `gmm:${mixFile}`, '--samplers', 'euler,nope', '--steps', '5'], /--samplers must be one of/],
      [['--model', `gmm:${mixFile}`, '--samplers', 'euler', '--steps', '5,x'], /--steps must be an integer/],
      [['--model', `gmm:${mixFile}`, '--samplers', 'heun', '--steps', '5', '--eta', '1'], /heun has no eta option/],
      [['--model', `gmm:${mixFile}`, '--samplers', 'euler', '--steps', '2000'], /cannot exceed the 1000 timesteps/],
    ] as const) {
      const r = await cli([...base, ...args]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });

  it('compares samplers on a toy run trained for a few steps (--run)', async () => {
    const where = ['--db', db, '--out', join(root, 'runs')];
    const t = await cli([
      'train',
      ...['--data', 'toy:ring', '--toy-size', '64', '--preset', 'tiny', '--batch', '8', '--steps', '2'],
      ...['--backend', 'cpu', '--seed', '3', ...where],
    ]);
    expect(t.code).toBe(0);
    const run = /^run (r_\w+) /m.exec(t.out)![1];
    const grid = join(root, 'run-grid.png');
    const r = await cli([
      'compare',
      ...['--run', run, '--backend', 'cpu', '--samplers', 'ddim,euler', '--steps', '2,4', '--n', '32'],
      ...['--grid', grid, '--db', db],
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ddim +2 nfe +\d+ ms +4 nfe +\d+ ms$/m);
    const text = readPngText(readFileSync(grid));
    expect(text.run).toBe(run);
    expect(text['checkpoint-sha256']).toMatch(/^[0-9a-f]{64}$/);
    await decodePng(readFileSync(grid));
  });
});
