import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptCheckpointError } from '../../src/checkpoint/io.ts';
import { CheckpointManager, NoUsableCheckpointError, checkpointFileName } from '../../src/checkpoint/manager.ts';
import type { TrainingState } from '../../src/checkpoint/state.ts';
import { openMemoryStore, openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';

const SHAPES: [string, number[]][] = [
  ['conv.weight', [4, 1, 3, 3]],
  ['conv.bias', [4]],
];

/** A small state whose values depend on (step, seed), so different states hash differently. */
function makeState(step: number, seed = 0): TrainingState {
  const map = (k: number) =>
    new Map(
      SHAPES.map(([name, shape]) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return [name, Float32Array.from({ length: n }, (_, i) => Math.sin(step * 0.37 + i * 1.3 + k + seed * 7))];
      }),
    );
  return {
    step,
    weights: map(0),
    ema: map(1),
    optimizer: { kind: 'adam', step, m: map(2), v: map(3) },
    shapes: new Map(SHAPES),
    lr: { current: 1e-3 },
    rng: { noise: [1, 2, step, 0] },
    data: { epoch: 0, index: step * 32 },
    config: { lr: 1e-3 },
    backend: 'cpu',
    versions: { app: '0.1.0' },
    metrics: { loss: 1 / (step + 1) },
  };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let dir: string;
let store: Store;
let manager: CheckpointManager;
let runId: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-mgr-'));
  store = openMemoryStore();
  manager = new CheckpointManager(store, join(dir, 'runs'));
  runId = store.createRun({ name: 'tiny', kind: 'train', config: { lr: 1e-3 }, engine: 'cpu' }).id;
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const saveSteps = async (...steps: number[]) => {
  for (const step of steps) await manager.save(runId, makeState(step));
  return store.listCheckpoints(runId);
};

describe('save', () => {
  it('writes durable files named by step and records rows with their hash and size', async () => {
    const rows = await saveSteps(100, 200);
    expect(rows.map((r) => r.step)).toEqual([100, 200]);
    for (const row of rows) {
      expect(row.path).toBe(join(dir, 'runs', runId, checkpointFileName(row.step)));
      const bytes = readFileSync(row.path);
      expect(row.sha256).toBe(sha256(bytes));
      expect(row.bytes).toBe(bytes.length);
      expect(row.metrics).toEqual({ loss: 1 / (row.step + 1) });
    }
    expect(checkpointFileName(200)).toBe('ckpt-00000200.safetensors');
    expect(readdirSync(manager.runDir(runId)).sort()).toEqual([
      'ckpt-00000100.safetensors',
      'ckpt-00000200.safetensors',
    ]);
  });

  it('saves pinned checkpoints and refuses unknown runs', async () => {
    expect((await manager.save(runId, makeState(5), { pinned: true })).pinned).toBe(true);
    await expect(manager.save('r_nope', makeState(5))).rejects.toThrow('cannot save a checkpoint: no run r_nope');
  });

  it('re-saving a step replaces file and row; identical bytes keep the row', async () => {
    const [first] = await saveSteps(100);
    const same = await manager.save(runId, makeState(100));
    expect(same).toEqual(first);

    const replaced = await manager.save(runId, makeState(100, 1));
    expect(replaced.id).not.toBe(first.id);
    expect(replaced.path).toMatch(/ckpt-00000100-[0-9a-f]{8}\.safetensors$/);
    expect(existsSync(first.path)).toBe(false);
    expect(store.listCheckpoints(runId)).toEqual([replaced]);
    const { state } = await manager.loadLatestGood(runId);
    expect(state.weights).toEqual(makeState(100, 1).weights);

    // A third version goes back to the canonical name, which no row holds now.
    const third = await manager.save(runId, makeState(100, 2));
    expect(third.path).toBe(first.path);
    expect(readdirSync(manager.runDir(runId))).toEqual(['ckpt-00000100.safetensors']);
  });

  it('re-saving identical bytes repairs a damaged file', async () => {
    const [row] = await saveSteps(100);
    writeFileSync(row.path, 'garbage');
    await manager.save(runId, makeState(100));
    expect((await manager.load(row.id)).state.step).toBe(100);
  });

  it('keeps the pinned flag when a pinned checkpoint is re-saved', async () => {
    await manager.save(runId, makeState(100), { pinned: true });
    expect((await manager.save(runId, makeState(100, 1))).pinned).toBe(true);
  });
});

describe('prune', () => {
  it('keeps the last K and the pinned ones, deleting rows and files', async () => {
    await saveSteps(100);
    await manager.save(runId, makeState(200), { pinned: true });
    await saveSteps(300, 400, 500);
    const deleted = await manager.prune(runId, 2);
    expect(deleted.map((c) => c.step)).toEqual([100, 300]);
    expect(store.listCheckpoints(runId).map((c) => c.step)).toEqual([200, 400, 500]);
    expect(readdirSync(manager.runDir(runId)).sort()).toEqual([200, 400, 500].map((s) => checkpointFileName(s)).sort());
    expect(await manager.prune(runId, 2)).toEqual([]);
  });

  it('refuses to keep fewer than one', async () => {
    await expect(manager.prune(runId, 0)).rejects.toThrow('keepLast must be an integer >= 1');
  });
});

describe('loadLatestGood', () => {
  it('loads the newest checkpoint', async () => {
    await saveSteps(100, 200);
    const { checkpoint, state, skipped } = await manager.loadLatestGood(runId);
    expect(checkpoint.step).toBe(200);
    expect(state.weights).toEqual(makeState(200).weights);
    expect(skipped).toEqual([]);
  });

  it('skips a corrupt newest and a missing one, reporting both, and offers the previous', async () => {
    const [c100, c200, c300] = await saveSteps(100, 200, 300);
    const bytes = readFileSync(c300.path);
    bytes[bytes.length - 7] ^= 1;
    writeFileSync(c300.path, bytes);
    unlinkSync(c200.path);

    const { checkpoint, state, skipped } = await manager.loadLatestGood(runId);
    expect(checkpoint).toEqual(c100);
    expect(state.step).toBe(100);
    expect(skipped.map((s) => s.checkpoint.id)).toEqual([c300.id, c200.id]);
    expect(skipped[0].error).toBe(
      `checkpoint ${c300.path} is corrupt: file checksum mismatch (expected sha256 ${c300.sha256}, the ` +
        `${c300.bytes}-byte file hashes to ${sha256(bytes)})`,
    );
    expect(skipped[1].error).toBe(`checkpoint ${c200.path} is missing: no such file (ENOENT)`);
  });

  it('reports a file that holds another step than its row', async () => {
    const [c100, c200] = await saveSteps(100, 200);
    store.deleteCheckpoint(c200.id);
    // A row pointing to the wrong (but intact) file: only the step check can catch it.
    store.addCheckpoint({ runId, step: 300, path: c100.path, sha256: c100.sha256, bytes: c100.bytes });
    const { checkpoint, skipped } = await manager.loadLatestGood(runId);
    expect(checkpoint.step).toBe(100);
    expect(skipped[0].error).toContain('it holds step 100 but the store records step 300');
  });

  it('throws a clear error when no checkpoint is usable', async () => {
    const [c100] = await saveSteps(100);
    writeFileSync(c100.path, new Uint8Array(3));
    const err = await manager.loadLatestGood(runId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoUsableCheckpointError);
    expect((err as NoUsableCheckpointError).skipped).toHaveLength(1);
    expect((err as Error).message).toMatch(new RegExp(`^run ${runId} has no usable checkpoint: checkpoint .* corrupt`));
    const empty = store.createRun({ name: 'empty', kind: 'train', config: {} }).id;
    await expect(manager.loadLatestGood(empty)).rejects.toThrow(`run ${empty} has no checkpoints`);
  });

  it('load(id) verifies against the row', async () => {
    const [c100] = await saveSteps(100);
    expect((await manager.load(c100.id)).state.step).toBe(100);
    writeFileSync(c100.path, readFileSync(c100.path).subarray(0, 50));
    await expect(manager.load(c100.id)).rejects.toBeInstanceOf(CorruptCheckpointError);
    await expect(manager.load('c_nope')).rejects.toThrow('no checkpoint c_nope');
  });
});

describe('fork', () => {
  it('creates a run whose parent is the checkpoint, starting from a copy of it', async () => {
    const [, c200] = await saveSteps(100, 200, 300);
    const fork = await manager.fork(c200.id, 'tiny, lower lr', { config: { lr: 5e-4 }, notes: 'try' });
    expect(fork).toMatchObject({
      name: 'tiny, lower lr',
      kind: 'train',
      config: { lr: 5e-4 },
      engine: 'cpu',
      parentRunId: runId,
      parentCheckpointId: c200.id,
      notes: 'try',
      lastStep: 200,
    });
    const [start] = store.listCheckpoints(fork.id);
    expect(start).toMatchObject({ step: 200, sha256: c200.sha256, bytes: c200.bytes, pinned: false });
    expect(start.path).toBe(join(manager.runDir(fork.id), 'ckpt-00000200.safetensors'));
    expect(readFileSync(start.path)).toEqual(readFileSync(c200.path));
    expect((await manager.loadLatestGood(fork.id)).state.weights).toEqual(makeState(200).weights);

    // The origin survives retention, and keeps its bytes.
    await manager.prune(runId, 1);
    expect(store.listCheckpoints(runId).map((c) => c.step)).toEqual([200, 300]);
    await expect(manager.save(runId, makeState(200, 1))).rejects.toThrow(`run(s) ${fork.id} were forked from it`);
    expect(store.getCheckpoint(c200.id)).toEqual(c200);
  });

  it('refuses a corrupt or unknown checkpoint and creates nothing', async () => {
    const [c100] = await saveSteps(100);
    writeFileSync(c100.path, 'not a checkpoint');
    await expect(manager.fork(c100.id, 'f')).rejects.toBeInstanceOf(CorruptCheckpointError);
    await expect(manager.fork('c_nope', 'f')).rejects.toThrow('cannot fork: no checkpoint c_nope');
    expect(store.listRuns()).toHaveLength(1);
    expect(readdirSync(join(dir, 'runs'))).toEqual([runId]);
  });
});

describe('crash consistency', () => {
  it('removeOrphans deletes files without rows and temp files, only of our own names', async () => {
    await saveSteps(100);
    const runDir = manager.runDir(runId);
    writeFileSync(join(runDir, checkpointFileName(200)), 'written, but killed before its row'); // save crash
    writeFileSync(join(runDir, '.ckpt-00000300.safetensors.123.abc.tmp'), 'half'); // write crash
    writeFileSync(join(runDir, 'notes.txt'), 'not ours');
    const ghost = join(dir, 'runs', 'r_ghost'); // a fork killed before its run row
    mkdirSync(ghost);
    writeFileSync(join(ghost, checkpointFileName(100)), 'x');

    // Loads never look at orphans.
    expect((await manager.loadLatestGood(runId)).checkpoint.step).toBe(100);
    const removed = await manager.removeOrphans();
    expect(removed.sort()).toEqual(
      [
        join(runDir, checkpointFileName(200)),
        join(runDir, '.ckpt-00000300.safetensors.123.abc.tmp'),
        join(ghost, checkpointFileName(100)),
      ].sort(),
    );
    expect(readdirSync(runDir).sort()).toEqual([checkpointFileName(100), 'notes.txt']);
    expect(existsSync(ghost)).toBe(false);
    expect(await manager.removeOrphans(runId)).toEqual([]);
  });

  it('removeOrphans running beside a save leaves the save alone', async () => {
    await saveSteps(100);
    const saving = manager.save(runId, makeState(200));
    const removed = await manager.removeOrphans(runId);
    await saving;
    expect(removed).toEqual([]);
    expect((await manager.loadLatestGood(runId)).checkpoint.step).toBe(200);
  });

  it('a process killed with SIGKILL mid-run resumes from its last checkpoint with the database intact', async () => {
    const dbPath = join(dir, 'studio.db');
    const runsDir = join(dir, 'runs-killed');
    const setup = openStore(dbPath);
    const id = setup.createRun({ name: 'killed', kind: 'train', config: {} }).id;
    setup.close();
    // The child resumes from its latest checkpoint and saves ~1 MB ones as fast as it can, pruning as it goes.
    const child = `
      const { openStore } = await import('./src/store/open.ts');
      const { CheckpointManager } = await import('./src/checkpoint/manager.ts');
      const [dbPath, runsDir, runId] = process.argv.slice(-3);
      const store = openStore(dbPath);
      const manager = new CheckpointManager(store, runsDir);
      const n = 65536;
      const resumed = await manager.loadLatestGood(runId).catch(() => undefined);
      for (let step = (resumed?.state.step ?? 0) + 1; ; step++) {
        const t = () => new Map([['w', new Float32Array(n).fill(step)]]);
        await manager.save(runId, {
          step, weights: t(), ema: t(), optimizer: { kind: 'adam', step, m: t(), v: t() },
          shapes: new Map([['w', [n]]]), lr: { current: 1e-3 }, rng: { s: [step] }, data: { epoch: 0, index: step },
          config: {}, backend: 'cpu', versions: {},
        });
        store.updateRunProgress(runId, step, 1 / step);
        await manager.prune(runId, 2);
        process.stdout.write(step + '\\n');
      }`;
    for (const delayMs of [0, 37, 113]) {
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', child, dbPath, runsDir, id],
        { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      proc.stderr.on('data', (d) => (err += d));
      const exited = new Promise((resolve) => proc.on('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (d) => {
          out += d;
          if (out.split('\n').length > 4) resolve();
        });
        proc.on('exit', () => reject(new Error(`child exited early: ${err}`)));
      });
      await new Promise((r) => setTimeout(r, delayMs));
      proc.kill('SIGKILL');
      await exited;

      const reopened = openStore(dbPath);
      try {
        const lastReported = Math.max(...out.trim().split('\n').map(Number));
        const resumed = new CheckpointManager(reopened, runsDir);
        const { checkpoint, state, skipped } = await resumed.loadLatestGood(id);
        expect(skipped).toEqual([]);
        expect(checkpoint.step).toBeGreaterThanOrEqual(lastReported);
        expect(state.weights.get('w')![0]).toBe(checkpoint.step);
        expect(reopened.getRun(id)!.lastStep).toBeGreaterThanOrEqual(lastReported);
        await resumed.removeOrphans();
        // Every file left is one a row points to.
        const files = readdirSync(resumed.runDir(id)).map((f) => join(resumed.runDir(id), f));
        expect(files.sort()).toEqual(
          reopened
            .listCheckpoints(id)
            .map((c) => c.path)
            .sort(),
        );
      } finally {
        reopened.close();
      }
    }
  });
});
