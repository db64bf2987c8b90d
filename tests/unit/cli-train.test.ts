/**
 * The training commands end to end, in-process through runCli (plus one `resume` in a child process): train on a toy
 * set (MLP, cpu) and on a tiny generated IDX set (U-Net, wasm), list runs, sample them to PNG grids and .npy files,
 * stop with SIGINT and resume to the same weights as a straight run, extend a run, train on the real Fashion-MNIST,
 * and the one-line usage errors.
 */
import { cliCapture } from './helpers/run-cli.ts';
import { writeTinyIdx } from './helpers/tiny-idx.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { CheckpointManager } from '../../src/checkpoint/manager.ts';
import { decodeNpy } from '../../src/io/npy.ts';
import { decodePng } from '../../src/io/png.ts';
import { openStore } from '../../src/store/open.ts';
import type { JsonObject } from '../../src/store/types.ts';
import { resolveTrainConfig } from '../../src/train/config.ts';
import type * as Objectives from '../../src/train/objectives.ts';

// Fault injection for the NaN test only: once armed, the loss evaluation `poisonAt` calls later turns NaN.
const fault = vi.hoisted(() => ({ armed: false, calls: 0, poisonAt: 6 }));
vi.mock('../../src/train/objectives.ts', async (importOriginal) => {
  const real = await importOriginal<typeof Objectives>();
  return {
    ...real,
    diffusionLoss: (...args: Parameters<typeof real.diffusionLoss>) => {
      const r = real.diffusionLoss(...args);
      if (fault.armed && ++fault.calls === fault.poisonAt) return { ...r, loss: r.loss.mul(NaN) };
      return r;
    },
  };
});

const BIN = fileURLToPath(new URL('../../bin/diffusion-studio.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'ds-cli-train-'));
const db = join(root, 'studio.db');
const runsDir = join(root, 'runs');
const where = ['--db', db, '--out', runsDir];

const cli = cliCapture;

const runIdOf = (out: string) => /^run (r_\w+) /m.exec(out)![1];
const readNpy = (p: string) => decodeNpy(new Uint8Array(readFileSync(p)));

const idxDir = join(root, 'idx8');
mkdirSync(idxDir);
writeTinyIdx(idxDir);

/** Grid size of imagesToGrid: n tiles of side h * scale, ceil(sqrt(n)) per row, 2 px padding. */
function gridSize(n: number, side: number) {
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  return { width: cols * side + (cols + 1) * 2, height: rows * side + (rows + 1) * 2 };
}

async function finalState(runId: string) {
  const store = openStore(db, { readonly: true });
  try {
    const manager = new CheckpointManager(store, runsDir);
    const losses = store.metrics(runId, 'loss').map((p) => [p.step, p.value]);
    return { ...(await manager.loadLatestGood(runId)).state, losses };
  } finally {
    store.close();
  }
}

function expectSameTensors(a: Map<string, Float32Array>, b: Map<string, Float32Array>) {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [k, v] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
}

describe('diffusion-studio train / runs / sample --run', () => {
  let ringRun = '';

  it('trains an MLP on toy:ring (cpu), lists it, and samples it', async () => {
    const r = await cli([
      'train',
      ...['--data', 'toy:ring', '--toy-size', '64', '--preset', 'tiny', '--batch', '8', '--steps', '4'],
      ...[
        '--checkpoint-every',
        '2',
        '--engine',
        'tfjs',
        '--backend',
        'cpu',
        '--seed',
        '3',
        '--name',
        'ring test',
        ...where,
      ],
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^run r_\w+ "ring test": tiny model, [\d,]+ parameters, tfjs-cpu, toy:ring \(64 examples\)$/m,
    );
    expect(r.out).toMatch(/^step 4\/4 {2}loss \d\.\d{4} {2}smoothed \d\.\d{4} {2}[\d.]+ samples\/s {2}ETA 0:00:00$/m);
    for (const s of [0, 2, 4])
      expect(r.out).toMatch(new RegExp(`^checkpoint at step ${s}: .*ckpt-0+${s}\\.safetensors`, 'm'));
    expect(r.out).toMatch(/completed 4 steps/);
    ringRun = runIdOf(r.out);

    const list = await cli(['runs', '--db', db]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(
      new RegExp(`^${ringRun} +ring test +completed +toy:ring +tiny +tfjs-cpu +4/4 +\\d\\.\\d{4} +3 `, 'm'),
    );
    const one = await cli(['runs', '--run', ringRun, '--json', '--db', db]);
    const detail = JSON.parse(one.out);
    expect(detail).toMatchObject({ id: ringRun, status: 'completed', steps: 4, lastStep: 4 });
    expect(detail.checkpoints.map((c: { step: number }) => c.step)).toEqual([0, 2, 4]);
    expect(detail.loss).toMatchObject({ points: 4, last: { step: 4 } });
    const text = await cli(['runs', '--run', ringRun, '--db', db]);
    expect(text.out).toMatch(/^checkpoint +step +pinned +size +loss +file$/m);
    expect(text.out).toMatch(/loss: 4 points; first/);

    const npy = join(root, 'ring.npy');
    const png = join(root, 'ring.png');
    const s = await cli([
      'sample',
      '--run',
      ringRun,
      '--ema',
      '--n',
      '5',
      '--steps',
      '4',
      '--out',
      npy,
      '--grid',
      png,
      '--db',
      db,
    ]);
    expect(s.err).toBe('');
    expect(s.code).toBe(0);
    const arr = readNpy(npy);
    expect(arr.shape).toEqual([5, 2]);
    expect(Array.from(arr.data as Float32Array).every(Number.isFinite)).toBe(true);
    expect(await decodePng(readFileSync(png))).toMatchObject({ width: 512, height: 512, channels: 1 });
    // The same seed gives the same samples whatever the batch size.
    const npy2 = join(root, 'ring2.npy');
    await cli([
      'sample',
      '--run',
      ringRun,
      '--ema',
      '--n',
      '5',
      '--steps',
      '4',
      '--batch-size',
      '2',
      '--out',
      npy2,
      '--db',
      db,
    ]);
    expect(readNpy(npy2).data).toEqual(arr.data);
  });

  it('extends a finished run with resume --steps', async () => {
    const done = await cli(['resume', '--run', ringRun, '--db', db]);
    expect(done.code).toBe(2);
    expect(done.err).toMatch(/already completed its 4 steps; pass --steps N/);
    const r = await cli(['resume', '--run', ringRun, '--steps', '6', '--db', db]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/resuming from step 4/);
    expect(r.out).toMatch(/completed 6 steps/);
    const detail = JSON.parse((await cli(['runs', '--run', ringRun, '--json', '--db', db])).out);
    expect(detail).toMatchObject({ status: 'completed', steps: 6, lastStep: 6, config: { steps: 6 } });
    expect(detail.checkpoints.map((c: { step: number }) => c.step)).toEqual([2, 4, 6]);
  });

  it('trains a conditional tiny U-Net on an IDX set (wasm) with previews, and samples it with guidance', async () => {
    const r = await cli([
      'train',
      ...['--data', 'mnist', '--data-dir', idxDir, '--cond', '--batch', '2', '--steps', '2', '--checkpoint-every', '1'],
      ...['--backend', 'wasm', '--preview-count', '4', '--preview-steps', '2', ...where],
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const id = runIdOf(r.out);
    for (const step of [1, 2]) {
      const file = join(runsDir, id, 'previews', `step-${step}.png`);
      expect(r.out).toContain(`preview at step ${step}: ${file}`);
      expect(await decodePng(readFileSync(file))).toMatchObject({ ...gridSize(4, 8 * 7), channels: 1 });
    }

    const npy = join(root, 'idx.npy');
    const png = join(root, 'idx.png');
    const s = await cli([
      'sample',
      ...['--run', id, '--checkpoint', '2', '--ema', '--sampler', 'ddim', '--steps', '3', '--n', '3'],
      ...['--class', '1', '--guidance', '2', '--grid', png, '--out', npy, '--db', db],
    ]);
    expect(s.err).toBe('');
    expect(s.code).toBe(0);
    const arr = readNpy(npy);
    expect(arr.shape).toEqual([3, 8, 8, 1]);
    expect(Array.from(arr.data as Float32Array).every((x) => x >= -1 && x <= 1)).toBe(true);
    expect(await decodePng(readFileSync(png))).toMatchObject({ ...gridSize(3, 8 * 7), channels: 1 });
    const scaled = join(root, 'idx-s1.png');
    await cli(['sample', '--run', id, '--steps', '2', '--n', '4', '--scale', '1', '--grid', scaled, '--db', db]);
    expect(await decodePng(readFileSync(scaled))).toMatchObject(gridSize(4, 8));
  });

  it('Ctrl-C writes a checkpoint and exits 130; a resume in another process ends on the weights of a straight run', async () => {
    const args = [
      'train',
      ...['--data', 'toy:moons', '--toy-size', '64', '--batch', '8', '--steps', '6', '--checkpoint-every', '3'],
      ...['--backend', 'wasm', '--seed', '11', '--lr', '1e-3', '--keep', '5', ...where],
    ];
    const straight = await cli(args);
    expect(straight.code).toBe(0);

    // SIGINT right after the step-3 checkpoint note: the stop lands exactly there, the first step the trainer sees it.
    let signalled = false;
    const stopped = await cli(args, (line) => {
      if (!signalled && line.startsWith('checkpoint at step 3:')) {
        signalled = true;
        process.emit('SIGINT', 'SIGINT');
      }
    });
    expect(stopped.code).toBe(130);
    const id = runIdOf(stopped.out);
    expect(stopped.out).toMatch(/^SIGINT: stopping after this step/m);
    expect(stopped.out).toContain(
      `stopped at step 3/6 with a checkpoint; continue with: diffusion-studio resume --run ${id} --db`,
    );
    expect(process.listenerCount('SIGINT')).toBe(0);
    expect(JSON.parse((await cli(['runs', '--run', id, '--json', '--db', db])).out)).toMatchObject({
      status: 'cancelled',
      lastStep: 3,
    });

    const child = spawnSync(process.execPath, [BIN, 'resume', '--run', id, '--db', db], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.stdout).toMatch(/resuming from step 3/);
    expect(child.stdout).toMatch(/completed 6 steps/);

    const a = await finalState(runIdOf(straight.out));
    const b = await finalState(id);
    expect(b.step).toBe(6);
    expect(b.losses).toEqual(a.losses);
    expectSameTensors(a.weights, b.weights);
    expectSameTensors(a.ema!, b.ema!);
    expectSameTensors(a.optimizer.m, b.optimizer.m);
    expectSameTensors(a.optimizer.v, b.optimizer.v);
  });

  it.skipIf(!existsSync('/usr/share/datasets/fashion-mnist'))(
    'trains on the real Fashion-MNIST (tiny U-Net, wasm, 2 steps)',
    async () => {
      const r = await cli([
        'train',
        ...[
          '--data',
          'fashion-mnist',
          '--preset',
          'tiny',
          '--batch',
          '4',
          '--steps',
          '2',
          '--engine',
          'tfjs',
          '--backend',
          'wasm',
        ],
        ...['--checkpoint-every', '2', '--preview-count', '4', '--preview-steps', '2', ...where],
      ]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/tfjs-wasm, fashion-mnist \(60000 examples\)/);
      const id = runIdOf(r.out);
      expect(await decodePng(readFileSync(join(runsDir, id, 'previews', 'step-2.png')))).toMatchObject(
        gridSize(4, 28 * 2),
      );
      const npy = join(root, 'fm.npy');
      const s = await cli(['sample', '--run', id, '--steps', '2', '--n', '2', '--out', npy, '--db', db]);
      expect(s.code).toBe(0);
      expect(readNpy(npy).shape).toEqual([2, 28, 28, 1]);
    },
  );

  it('a NaN loss exits 1 with one line, keeping the last good checkpoint', async () => {
    fault.armed = true;
    try {
      const r = await cli([
        'train',
        ...['--data', 'toy:ring', '--toy-size', '64', '--batch', '8', '--steps', '10', '--checkpoint-every', '4'],
        // The fault is injected into the tfjs engine's loss (the ONNX engine's NaN handling: onnx-train-graph.test).
        ...['--engine', 'tfjs', '--backend', 'cpu', ...where],
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^diffusion-studio train: error: loss became NaN at step 6; training stopped and the last good checkpoint \(step 4\) is kept/,
      );
      expect(r.err.split('\n')).toHaveLength(2);
      const detail = JSON.parse((await cli(['runs', '--run', runIdOf(r.out), '--json', '--db', db])).out);
      expect(detail.status).toBe('failed');
      expect(detail.checkpoints.map((c: { step: number }) => c.step)).toEqual([0, 4]);
    } finally {
      fault.armed = false;
    }
  });

  it('reports mistakes as one line with exit status 2', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    // A run another program (the studio) marks as running: resume must not start a second trainer on it.
    const store = openStore(db);
    const config = resolveTrainConfig({ data: { kind: 'toy' } }) as unknown as JsonObject;
    const foreign = store.createRun({ name: 'studio run', kind: 'train', config, status: 'running' }).id;
    store.close();
    const cases: [string[], RegExp][] = [
      [
        ['resume', '--run', 'r_nope', '--db', db],
        /^diffusion-studio resume: no run r_nope in .*; see diffusion-studio runs/,
      ],
      [['sample', '--run', 'r_nope', '--db', db], /^diffusion-studio sample: no run r_nope in /],
      [['runs', '--run', 'r_nope', '--db', db], /^diffusion-studio runs: no run r_nope in /],
      [['resume', '--db', db], /--run ID is required/],
      [['train', '--data', 'toy:ring', '--batch', 'x', ...where], /--batch must be an integer in 1..65536 \(got "x"\)/],
      [['train', '--data', 'toy:ring', '--frobnicate', ...where], /Unknown option '--frobnicate'/],
      [['train', '--data', 'toy:ring', '--lr', '0', ...where], /--lr must be positive/],
      [['train', '--data', 'toy:spiral', ...where], /unknown toy set "spiral"; known: ring, /],
      [
        ['train', '--data', join(root, 'no-such-folder'), ...where],
        /is neither a known dataset .* nor an existing folder/,
      ],
      [['train', '--data', 'mnist', ...where], /--data mnist needs --data-dir DIR/],
      [['train', '--data', 'mnist', '--data-dir', empty, ...where], /mnist: no training images in /],
      [
        ['train', '--data', 'toy:swiss-roll', '--cond', ...where],
        /--cond needs class labels, and toy:swiss-roll has none/,
      ],
      [['train', '--data', 'toy:ring', '--image-size', '16', ...where], /--image-size applies to image folders only/],
      [['train', '--data', 'toy:ring', '--hflip', ...where], /hflip applies to images/],
      [
        ['train', '--data', 'mnist', '--data-dir', idxDir, '--batch', '64', ...where],
        /holds 8 examples, fewer than one batch/,
      ],
      [['train', '--data', 'toy:ring', '--db', root], /Cannot open .* for writing: the path is a folder/],
      [['sample', '--run', ringRun, '--class', '1', '--db', db], /--class and --guidance need a conditional run/],
      [
        ['sample', '--run', ringRun, '--checkpoint', '99', '--db', db],
        /has no checkpoint "99"; its checkpoints are at steps 2, 4, 6/,
      ],
      [
        ['sample', '--run', ringRun, '--steps', '2000', '--db', db],
        /--steps \(2000\) cannot exceed the run's 1000 timesteps/,
      ],
      [
        ['sample', '--run', ringRun, '--sampler', 'ddim', '--order', '2', '--db', db],
        /--order is not an option of sampler ddim/,
      ],
      [
        ['resume', '--run', ringRun, '--steps', '3', '--db', db],
        /--steps 3 is below the run's latest checkpoint \(step 6\)/,
      ],
      [['resume', '--run', foreign, '--db', db], /is marked running by another program \(the studio\?\); .* --force/],
      [['resume', '--run', foreign, '--force', '--db', db], /run r_\w+ has no checkpoint to resume from/],
    ];
    const before = JSON.parse((await cli(['runs', '--json', '--db', db])).out).length;
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out, args.join(' ')).toBe('');
      expect(r.err.split('\n'), args.join(' ')).toHaveLength(2); // one line and its newline
      expect(r.err, args.join(' ')).toMatch(message);
    }
    // Nothing that failed its checks left a run behind.
    expect(JSON.parse((await cli(['runs', '--json', '--db', db])).out)).toHaveLength(before);
  });
});

describe('fork', () => {
  it('starts a new run from a checkpoint with a new learning rate, trainable with resume', async () => {
    const base = await cli([
      'train',
      ...['--data', 'toy:ring', '--toy-size', '64', '--batch', '8', '--steps', '6', '--checkpoint-every', '3'],
      ...['--backend', 'cpu', '--seed', '9', '--name', 'parent', ...where],
    ]);
    expect(base.code).toBe(0);
    const parent = runIdOf(base.out);
    const f = await cli(['fork', '--run', parent, '--checkpoint', '3', '--lr', '1e-4', '--steps', '8', '--db', db]);
    expect(f.err).toBe('');
    expect(f.code).toBe(0);
    const child =
      /^forked run (r_\w+) "parent \(fork @ 3\)" from run r_\w+ at step 3 with \{"steps":8,"lr":0\.0001\}$/m.exec(
        f.out,
      )![1];
    const store = openStore(db);
    const row = store.getRun(child)!;
    expect(row).toMatchObject({ parentRunId: parent, lastStep: 3 });
    expect(row.config).toMatchObject({ lr: 1e-4, steps: 8 });
    store.close();
    const r = await cli(['resume', '--run', child, ...where]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/completed 8 steps/);
    const bad = await cli(['fork', '--run', parent, '--checkpoint', '5', '--db', db]);
    expect(bad.code).toBe(2);
    expect(bad.err.trim()).toBe(`diffusion-studio fork: run ${parent} has no checkpoint "5"; it has steps 0, 3, 6`);
  });
});
