import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { decodeNpy, encodeNpy } from '../../src/io/npy.ts';

const dir = mkdtempSync(join(tmpdir(), 'ds-cli-'));
const mix = join(dir, 'mix.json');

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d) => (o += d));
  err.on('data', (d) => (e += d));
  const code = await runCli(args, out, err);
  return { code, out: o, err: e };
}

const readNpy = (p: string) => decodeNpy(new Uint8Array(readFileSync(p)));

beforeAll(() => {
  writeFileSync(
    mix,
    JSON.stringify({
      weights: [0.3, 0.7],
      means: [
        [-2, 0],
        [2, 1],
      ],
      stds: [0.3, 0.5],
    }),
  );
});

describe('diffusion-studio sample', () => {
  it('samples a mixture and writes samples, trajectories and a JSON summary', async () => {
    const out = join(dir, 'x.npy');
    const traj = join(dir, 'traj.npy');
    const trajX0 = join(dir, 'x0.npy');
    const r = await cli(
      'sample',
      '--model',
      `gmm:${mix}`,
      '--sampler',
      'heun',
      '--steps',
      '10',
      '--n',
      '50',
      '--out',
      out,
      '--trajectory',
      traj,
      '--trajectory-x0',
      trajX0,
      '--json',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary).toMatchObject({ sampler: 'heun', steps: 10, nfe: 19, n: 50, dim: 2, formulation: 'vp' });
    expect(summary.sigmas).toHaveLength(11);
    expect(summary.sigmas[10]).toBe(0);
    const x = readNpy(out);
    expect(x.shape).toEqual([50, 2]);
    expect(x.dtype).toBe('<f4');
    const t = readNpy(traj);
    expect(t.shape).toEqual([11, 50, 2]);
    // The last trajectory entry is the output; the first is x_T = z in VP space (unit variance, not sigma_max).
    expect(Array.from(t.data.subarray(10 * 100))).toEqual(Array.from(x.data));
    const first = Array.from(t.data.subarray(0, 100));
    expect(Math.max(...first.map(Math.abs))).toBeLessThan(6);
    expect(readNpy(trajX0).shape).toEqual([10, 50, 2]);
  });

  it('gives the same samples whatever the batch size', async () => {
    const a = join(dir, 'a.npy');
    const b = join(dir, 'b.npy');
    const args = [
      'sample',
      '--model',
      `gmm:${mix}`,
      '--sampler',
      'euler-ancestral',
      '--steps',
      '8',
      '--n',
      '10',
      '--seed',
      '3',
    ];
    expect((await cli(...args, '--out', a)).code).toBe(0);
    expect((await cli(...args, '--batch-size', '3', '--out', b)).code).toBe(0);
    expect(Array.from(readNpy(b).data)).toEqual(Array.from(readNpy(a).data));
  });

  it('starts from --init-noise scaled to the first noise level', async () => {
    // With one Euler step to sigma = 0 the output is D(z * scale; sigma_0): for sigma form the scale is sigma_0,
    // which we check against a run whose noise came from the seed.
    const z = new Float64Array([0.5, -1, 1.5, 0.25]);
    const zPath = join(dir, 'z.npy');
    writeFileSync(zPath, encodeNpy(z, [2, 2]));
    const out = join(dir, 'xz.npy');
    const r = await cli(
      'sample',
      '--model',
      `gmm:${mix}`,
      '--formulation',
      'sigma',
      '--sampler',
      'dpmpp-2m',
      '--steps',
      '12',
      '--init-noise',
      zPath,
      '--dtype',
      'float64',
      '--out',
      out,
      '--json',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).n).toBe(2);
    const x = readNpy(out);
    expect(x.dtype).toBe('<f8');
    expect(x.shape).toEqual([2, 2]);
  });

  const bad: [string, string[], RegExp][] = [
    ['no model', [], /--model is required/],
    ['bad model spec', ['--model', 'foo.json'], /--model must be gmm:<file.json>/],
    ['missing file', ['--model', 'gmm:/nonexistent/m.json'], /cannot read model file \/nonexistent\/m.json: ENOENT/],
    ['bad steps', ['--steps', 'ten'], /--steps must be an integer in 1..100000 \(got "ten"\)/],
    ['zero steps', ['--steps', '0'], /--steps must be an integer/],
    ['unknown sampler', ['--sampler', 'magic'], /--sampler must be one of .*ddpm.*\(got "magic"\)/],
    ['unknown flag', ['--frobnicate', '1'], /Unknown option '--frobnicate'/],
    ['option of another sampler', ['--sampler', 'euler', '--eta', '0.5'], /--eta is not an option of sampler euler/],
    ['ddim eta out of range', ['--sampler', 'ddim', '--eta', '2'], /--eta must be in \[0, 1\]/],
    [
      'steps above timesteps',
      ['--timesteps', '100', '--steps', '200'],
      /--steps \(200\) cannot exceed --timesteps \(100\)/,
    ],
    ['karras flag on discrete grid', ['--sigma-max', '10'], /apply to --schedule karras only/],
    [
      'inverted sigma range',
      ['--schedule', 'karras', '--formulation', 'sigma', '--sigma-min', '5', '--sigma-max', '1'],
      /--sigma-min \(5\) must be below --sigma-max \(1\)/,
    ],
    [
      'karras outside the VP range',
      ['--schedule', 'karras', '--sigma-max', '1000'],
      /outside the VP model's noise levels/,
    ],
    ['negative seed', ['--seed=-1'], /--seed must be an integer >= 0/],
    ['dash-leading value', ['--seed', '-1'], /Option '--seed' argument is ambiguous\. .*--seed=-XYZ/],
  ];
  for (const [what, args, message] of bad) {
    it(`rejects ${what} with one line and exit 2`, async () => {
      const withModel =
        args.some((a) => a === '--model') || what === 'no model' ? args : ['--model', `gmm:${mix}`, ...args];
      const r = await cli('sample', ...withModel);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).not.toMatch(/\n\s+at /);
    });
  }

  it('rejects malformed model files and init noise naming the file', async () => {
    const badJson = join(dir, 'bad.json');
    writeFileSync(badJson, '{"weights": [1], ');
    expect((await cli('sample', '--model', `gmm:${badJson}`)).err).toMatch(/is not valid JSON/);
    const badMix = join(dir, 'badmix.json');
    writeFileSync(badMix, JSON.stringify({ weights: [1, 2], means: [[0, 0]], stds: [1, 1] }));
    expect((await cli('sample', '--model', `gmm:${badMix}`)).err).toMatch(/"means" must be an array of 2 vectors/);
    const z = join(dir, 'z3.npy');
    writeFileSync(z, encodeNpy(new Float32Array(6), [2, 3]));
    const r = await cli('sample', '--model', `gmm:${mix}`, '--init-noise', z);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/has shape \[2, 3\]; expected \[n, 2\]/);
    const notNpy = join(dir, 'not.npy');
    writeFileSync(notNpy, 'hello');
    expect((await cli('sample', '--model', `gmm:${mix}`, '--init-noise', notNpy)).err).toMatch(
      /--init-noise .*not.npy/,
    );
    const zn = join(dir, 'zn.npy');
    writeFileSync(zn, encodeNpy(new Float32Array([0, NaN]), [1, 2]));
    expect((await cli('sample', '--model', `gmm:${mix}`, '--init-noise', zn)).err).toMatch(/NaN or Inf/);
  });

  it('reports an unwritable output as an error, exit 1, without a stack trace', async () => {
    const r = await cli('sample', '--model', `gmm:${mix}`, '--steps', '2', '--out', '/nonexistent-dir/x.npy');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^diffusion-studio sample: error: .*\/nonexistent-dir\/x.npy/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('runs as an installed binary (npx diffusion-studio)', () => {
    const out = join(dir, 'bin.npy');
    const stdout = execFileSync(
      'node',
      ['bin/diffusion-studio.js', 'sample', '--model', `gmm:${mix}`, '--steps', '4', '--n', '3', '--out', out],
      { encoding: 'utf8' },
    );
    expect(stdout).toMatch(/3 samples x 2 dims, 4 steps/);
    const bad = spawnSync('node', ['bin/diffusion-studio.js', 'smaple'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'diffusion-studio: unknown command "smaple"; run "diffusion-studio help" for the list',
    );
  });
});
