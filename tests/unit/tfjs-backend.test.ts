// Backend selection: absent optional backends (tfjs-node, webgpu) fall through cleanly to wasm / cpu, failures are
// reported, and the wasm backend finds its binaries inside a worker thread too.
import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { selectBackend, useBackend } from '../../src/engines/tfjs/backend.ts';
import { defaultGradMode } from '../../src/engines/tfjs/grad-mode.ts';

describe('tfjs backends', () => {
  it('falls through missing optional backends to wasm, saying why each failed', async () => {
    const sel = await selectBackend();
    // On a machine with tfjs-node or a WebGPU adapter this would pick those; here neither exists.
    expect(['tensorflow', 'webgpu', 'wasm']).toContain(sel.name);
    expect(tf.getBackend()).toBe(sel.name);
    if (sel.name === 'wasm') {
      expect(sel.tried.map((t) => t.name)).toEqual(['tensorflow', 'webgpu']);
      expect(sel.tried[0].error).toMatch(/tfjs-node/);
      expect(sel.detail).toMatch(/^wasm \(/);
    }
  });

  it('honours a preference list and reports the unusable', async () => {
    const cpu = await selectBackend(['cpu']);
    expect(cpu).toEqual({ name: 'cpu', detail: 'cpu (pure JS)', tried: [] });
    expect(tf.getBackend()).toBe('cpu');
    await expect(useBackend('nope' as 'cpu')).rejects.toThrow(/unknown tfjs backend/);
    await expect(selectBackend(['tensorflow'])).rejects.toThrow(/no tfjs backend could be used: tensorflow: /);
    expect(tf.getBackend()).toBe('cpu'); // a failed probe leaves the current backend alone
  });

  it('uses hand-written gradients where native ones are missing or slow', () => {
    expect(defaultGradMode('wasm')).toBe('custom');
    expect(defaultGradMode('cpu')).toBe('custom');
  });

  it('loads the wasm backend in a worker thread', async () => {
    const api = import.meta.resolve('tsx/esm/api');
    const backendUrl = new URL('../../src/engines/tfjs/backend.ts', import.meta.url).href;
    // A worker runs TypeScript through tsx's loader (see src/service/worker-entry.ts for why it is eval'd).
    const script = `(async () => {
      const { parentPort } = await import('node:worker_threads');
      try {
        const tsx = await import(${JSON.stringify(api)});
        tsx.register();
        const { selectBackend } = await import(${JSON.stringify(backendUrl)});
        const tf = await import('@tensorflow/tfjs');
        const sel = await selectBackend(['wasm']);
        const y = tf.conv2d(tf.ones([1, 4, 4, 2]), tf.ones([3, 3, 2, 1]), 1, 'same');
        parentPort.postMessage({ name: sel.name, sum: (await y.data()).reduce((a, b) => a + b, 0) });
      } catch (e) {
        parentPort.postMessage({ error: String((e && e.message) || e) });
      }
    })();`;
    const worker = new Worker(script, { eval: true });
    try {
      const msg = await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      // 3x3 box sums of ones over a 4x4x2 map with zero padding: 4 corners x 8 + 8 edges x 12 + 4 inner x 18.
      expect(msg).toEqual({ name: 'wasm', sum: 200 });
    } finally {
      await worker.terminate();
    }
  });
});
