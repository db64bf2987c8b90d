import { describe, expect, it, vi } from 'vitest';
import { CALL_NAMES, IPC, type StudioCalls, type StudioEvent } from '../../src/api/contract.ts';

// The Electron main's IPC layer, with electron's ipcMain replaced by a recorder (Electron cannot run here).
const handlers = new Map<string, (event: unknown, arg: unknown) => unknown>();
vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, fn: (event: unknown, arg: unknown) => unknown) => handlers.set(channel, fn),
    removeHandler: (channel: string) => handlers.delete(channel),
  },
}));

const { registerIpc } = await import('../../src/main/ipc.ts');

function fakeService() {
  const listeners = new Set<(e: StudioEvent) => void>();
  const calls = {
    info: vi.fn(async () => ({ name: 'Diffusion Studio' })),
    sampleAnalytic: vi.fn(async () => ({ jobId: 'j1' })),
    cancelJob: vi.fn(async () => {
      throw Object.assign(new Error('no such job'), { name: 'NotFoundError' });
    }),
    listRuns: vi.fn(async () => []),
    listSampleSets: vi.fn(async () => []),
  } as unknown as StudioCalls;
  return {
    ...calls,
    onEvent: (l: (e: StudioEvent) => void) => (listeners.add(l), () => listeners.delete(l)),
    emit: (e: StudioEvent) => listeners.forEach((l) => l(e)),
  };
}

describe('Electron IPC', () => {
  it('handles every contract call, only from the top frame of a studio window showing the renderer', async () => {
    const service = fakeService();
    const mainFrame = { url: 'file:///app/out/renderer/index.html' };
    const sent: unknown[] = [];
    const win = {
      webContents: { mainFrame, send: (channel: string, e: unknown) => sent.push([channel, e]) },
      isDestroyed: () => false,
    };
    const dispose = registerIpc({
      service,
      windows: () => [win as never],
      isRendererUrl: (url) => url === 'file:///app/out/renderer/index.html',
    });
    expect([...handlers.keys()].sort()).toEqual(CALL_NAMES.map(IPC.call).sort());

    const info = handlers.get(IPC.call('info'))!;
    await expect(info({ senderFrame: mainFrame }, undefined)).resolves.toEqual({
      ok: true,
      value: { name: 'Diffusion Studio' },
    });
    // A subframe, a frame of another page, and a missing frame are all refused.
    for (const senderFrame of [{ url: mainFrame.url }, { ...mainFrame, url: 'https://evil.example/' }, null]) {
      await expect(info({ senderFrame }, undefined)).resolves.toMatchObject({
        ok: false,
        error: { name: 'Forbidden' },
      });
    }
    mainFrame.url = 'https://evil.example/';
    await expect(info({ senderFrame: mainFrame }, undefined)).resolves.toMatchObject({ ok: false });
    mainFrame.url = 'file:///app/out/renderer/index.html';

    // Errors cross as named envelopes.
    const cancel = handlers.get(IPC.call('cancelJob'))!;
    await expect(cancel({ senderFrame: mainFrame }, 'j9')).resolves.toEqual({
      ok: false,
      error: { name: 'NotFoundError', message: 'no such job' },
    });

    // Events go to the window untouched (typed arrays by structured clone, not JSON).
    const x = new Float32Array([1, 2]);
    service.emit({ type: 'job-step', jobId: 'j1', i: 0, steps: 1, sigma: 1, sigmaNext: 0, nfe: 1, x, x0Pred: x });
    expect(sent).toHaveLength(1);
    expect((sent[0] as [string, { x: unknown }])[0]).toBe(IPC.event);
    expect((sent[0] as [string, { x: unknown }])[1].x).toBe(x);

    dispose();
    expect(handlers.size).toBe(0);
    service.emit({ type: 'job-cancelled', jobId: 'j1', completedSteps: 0 });
    expect(sent).toHaveLength(1);
  });
});
