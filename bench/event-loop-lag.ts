/**
 * "Never frozen": event-loop lag of the host's main thread (the server / Electron main process, where the service
 * lives) and of the renderer, while a training run and the sampler lab's heaviest stream run at once.
 *
 * The real StudioService and the real HTTP/WebSocket server run in this process on 127.0.0.1 (ephemeral port), with
 * the workers started from sources through tsx, as `npm run serve:dev` does. Phases, each measured with
 * node:perf_hooks monitorEventLoopDelay:
 * - idle: the reference, service and server up, nothing running;
 * - start: the first seconds of the load (workers spawning, the training run opening its data);
 * - load: a tiny U-Net training on Fashion-MNIST (IDX) with frequent previews, in its worker, while analytic DDPM
 *   jobs (1000 steps x 4000 points, as the sampler lab runs them) stream every step, back to back;
 * - load + ws: the same, with a WebSocket client decoding every event frame, as the web renderer does;
 * - load: train + comparison + ws: back-to-back comparisons (the Compare page's matrix) instead of the lab stream;
 * - load + browser: headless Chromium on the built web page (out/web, `npm run build:web`), its sampler lab running
 *   the same DDPM job from the UI, again and again, while the run trains. Lag, frames and long tasks are measured in
 *   the page too.
 * Lag is the histogram value minus the probe's period (monitorEventLoopDelay records the whole timer interval).
 * The machine is shared: the "idle" row says what the neighbours cost, "x idle" is p99 over the idle p99.
 *
 * Run: npx tsx bench/event-loop-lag.ts [--phase-seconds 12] [--no-browser]
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { HTTP, type AnalyticSampleRequest, type StudioEvent } from '../src/api/contract.ts';
import { decodeEvent } from '../src/api/event-codec.ts';
import { createStudioHttpServer } from '../src/server/http-server.ts';
import {
  compareWorkerEntry,
  defaultStaticDir,
  sampleWorkerEntry,
  trainWorkerEntry,
} from '../src/server/worker-entries.ts';
import { StudioService } from '../src/service/studio-service.ts';

const { values } = parseArgs({
  options: { 'phase-seconds': { type: 'string' }, 'no-browser': { type: 'boolean' } },
});
const PHASE_MS = Number(values['phase-seconds'] ?? 12) * 1000;
const START_MS = 3000;
const RESOLUTION_MS = 5;
const TARGET_MS = 16;
const FASHION = '/usr/share/datasets/fashion-mnist';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The sampler lab's heaviest request: every one of 1000 steps carries 4000 2-D points. */
const LAB_REQUEST: AnalyticSampleRequest = {
  mixture: { preset: 'ring-8' },
  formulation: 'vp',
  schedule: 'linear',
  steps: 1000,
  sampler: 'ddpm',
  seed: 1,
  n: 4000,
};

interface Row {
  phase: string;
  p50: number;
  p99: number;
  max: number;
  eventsPerSec: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Measures the main thread's lag for ms; events() is read before and after to give the event rate. */
async function measure(phase: string, ms: number, events: () => number): Promise<Row> {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const before = events();
  const t0 = performance.now();
  h.enable();
  await sleep(ms);
  h.disable();
  const seconds = (performance.now() - t0) / 1000;
  const lag = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  return {
    phase,
    p50: lag(h.percentile(50)),
    p99: lag(h.percentile(99)),
    max: lag(h.max),
    eventsPerSec: (events() - before) / seconds,
  };
}

const dataDir = mkdtempSync(join(tmpdir(), 'ds-lag-'));
const service = new StudioService({
  host: 'server',
  version: 'bench',
  dataDir,
  workers: { sample: sampleWorkerEntry(), train: trainWorkerEntry(), compare: compareWorkerEntry() },
});
const staticDir = defaultStaticDir();
const haveWeb = existsSync(join(staticDir, 'index.html'));
const web = createStudioHttpServer({ service, staticDir, loopbackOnly: true });
await new Promise<void>((resolve) => web.server.listen(0, '127.0.0.1', resolve));
const address = web.server.address();
const port = typeof address === 'object' && address ? address.port : 0;

let serviceEvents = 0;
service.onEvent(() => serviceEvents++);

// Back-to-back lab jobs: two submitted at a time so the sampling worker never waits for the next request.
let sampling = false;
const liveJobs = new Set<string>();
async function submitJob(): Promise<void> {
  const { jobId } = await service.sampleAnalytic({ ...LAB_REQUEST, seed: liveJobs.size + serviceEvents });
  liveJobs.add(jobId);
}
service.onEvent((e) => {
  if ((e.type === 'job-done' || e.type === 'job-cancelled' || e.type === 'job-error') && liveJobs.delete(e.jobId)) {
    if (sampling) void submitJob();
  }
});
async function startSampling(): Promise<void> {
  sampling = true;
  await Promise.all([submitJob(), submitJob()]);
}
async function stopSampling(): Promise<void> {
  sampling = false;
  await Promise.all([...liveJobs].map((id) => service.cancelJob(id)));
}

// The training run: a tiny U-Net on Fashion-MNIST (an IDX set), or the toy MLP where it is not installed.
const haveFashion = existsSync(FASHION);
const run = await service.createTrainingRun({
  ...(haveFashion
    ? { data: { kind: 'fashion-mnist' }, preset: 'tiny', batchSize: 8, previewEvery: 20, previewCount: 8 }
    : { data: { kind: 'toy', toy: 'moons' }, batchSize: 256, previewEvery: 50, previewCount: 256 }),
  steps: 1_000_000,
  previewSteps: 10,
  checkpointEvery: 1_000_000,
  seed: 1,
});
let trainSteps = 0;
let trainState = 'created';
service.onEvent((e) => {
  if (e.type === 'train-progress' && e.runId === run.id) trainSteps = e.progress.step;
  if (e.type === 'train-state' && e.runId === run.id) trainState = e.state;
});

const rows: Row[] = [];
rows.push(await measure('idle (reference)', PHASE_MS, () => serviceEvents));

await service.startTraining(run.id);
await startSampling();
rows.push(await measure(`start (first ${START_MS / 1000} s)`, START_MS, () => serviceEvents));
rows.push(await measure('load: train + lab DDPM stream', PHASE_MS, () => serviceEvents));

// A client that receives and decodes every frame, as the web renderer's event client does.
let wsFrames = 0;
const ws = new WebSocket(`ws://127.0.0.1:${port}${HTTP.events}`);
ws.on('message', (data: Buffer) => {
  decodeEvent<StudioEvent>(data);
  wsFrames++;
});
await new Promise<void>((resolve, reject) => {
  ws.once('open', () => resolve());
  ws.once('error', reject);
});
rows.push(await measure('load + ws client', PHASE_MS, () => wsFrames));
await stopSampling();

// The comparison matrix instead of the lab stream: back-to-back comparisons (4 samplers x 3 step counts, 4000 points,
// with the 1000-step reference solve) in the compare worker, cells and progress streaming to the ws client.
let comparing = true;
let comparisonJob = '';
let comparisonCells = 0;
const nextComparison = async () => {
  comparisonJob = (
    await service.startComparison({
      source: { kind: 'mixture', mixture: { preset: 'ring-8' }, formulation: 'vp', schedule: 'linear' },
      samplers: ['euler', 'heun', 'dpmpp-2m', 'ddpm'],
      steps: [10, 50, 200],
      n: 4000,
      seed: comparisonCells,
    })
  ).jobId;
};
service.onEvent((e) => {
  if (e.type === 'comparison-cell') comparisonCells++;
  if (e.type === 'comparison-done' && comparing) void nextComparison();
});
await nextComparison();
rows.push(await measure('load: train + comparison + ws', PHASE_MS, () => wsFrames));
comparing = false;
await service.cancelJob(comparisonJob);
ws.close();

interface PageStats {
  lagP50: number;
  lagP99: number;
  lagMax: number;
  frameP50: number;
  frameP99: number;
  frameMax: number;
  longTasks: number;
  longTaskMs: number;
  labRuns: number;
}
let browserNote = '';
let pageStats: PageStats | null = null;
if (values['no-browser']) browserNote = 'skipped (--no-browser)';
else if (!haveWeb) browserNote = `skipped: no built page in ${staticDir} (npm run build:web)`;
else if (!existsSync(CHROMIUM)) browserNote = `skipped: no Chromium at ${CHROMIUM}`;
else {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage();
    let pageFrames = 0;
    page.on('websocket', (socket) => socket.on('framereceived', () => pageFrames++));
    // Probes in the page: a 5 ms timer chain (the renderer's event-loop lag), frame gaps, long tasks.
    // A string, not a function: tsx's keepNames would wrap functions in a __name() helper the page lacks.
    await page.addInitScript(`(() => {
      const period = ${RESOLUTION_MS};
      const lags = [], frames = [], long = { count: 0, ms: 0 };
      let on = false, last = 0;
      const tick = (expected) => {
        if (on) lags.push(Math.max(0, performance.now() - expected));
        const next = performance.now() + period;
        setTimeout(() => tick(next), period);
      };
      tick(performance.now());
      const frame = (t) => {
        if (on && last) frames.push(t - last);
        last = t;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      new PerformanceObserver((list) => {
        if (on) for (const e of list.getEntries()) { long.count++; long.ms += e.duration; }
      }).observe({ type: 'longtask' });
      const pct = (a, p) => {
        const s = [...a].sort((x, y) => x - y);
        return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : 0;
      };
      window.__lagStart = () => { on = true; };
      window.__lagStop = () => {
        on = false;
        return {
          lagP50: pct(lags, 50), lagP99: pct(lags, 99), lagMax: Math.max(0, ...lags),
          frameP50: pct(frames, 50), frameP99: pct(frames, 99), frameMax: Math.max(0, ...frames),
          longTasks: long.count, longTaskMs: long.ms,
        };
      };
    })();`);
    await page.goto(`http://127.0.0.1:${port}/#/lab`);
    await page.getByLabel('Sampler', { exact: true }).locator('option').first().waitFor({ state: 'attached' });
    await page.getByLabel('Mixture').selectOption('ring-8');
    await page.getByLabel('Sampler', { exact: true }).selectOption('ddpm');
    await page.getByLabel('Steps').fill('1000');
    await page.getByLabel('Samples').fill('4000');
    const status = page.getByTestId('lab-status');
    const runButton = page.getByRole('button', { name: 'Run', exact: true });
    let labRuns = 0;
    let driving = true;
    // The lab samples again as soon as a job ends, for the whole phase.
    let driveError: unknown = null;
    const drive = (async () => {
      while (driving) {
        await runButton.click();
        labRuns++;
        await page.waitForFunction(
          () => document.querySelector('[data-testid="lab-status"]')?.textContent?.trim() !== 'Done',
        );
        while (driving && (await status.textContent())?.trim() !== 'Done') await sleep(100);
      }
    })().catch((e: unknown) => {
      driveError = e;
    });
    await sleep(1000); // the first job's start
    await page.evaluate(() => (window as unknown as { __lagStart(): void }).__lagStart());
    rows.push(await measure('load + browser (lab page)', PHASE_MS, () => pageFrames));
    const stats = await page.evaluate(() => (window as unknown as { __lagStop(): PageStats }).__lagStop());
    driving = false;
    await drive;
    if (driveError) throw driveError;
    pageStats = { ...stats, labRuns };
  } catch (e) {
    browserNote = `failed: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    await browser.close();
  }
}

const trained = `${trainSteps} steps (state ${trainState})`;
await service.stopTraining(run.id).catch(() => false);
await web.close();
await service.close();
rmSync(dataDir, { recursive: true, force: true });

const idleP99 = rows[0].p99;
const ms = (x: number) => x.toFixed(2);
const table = rows.map((r) => [
  r.phase,
  ms(r.p50),
  ms(r.p99),
  ms(r.max),
  r.eventsPerSec.toFixed(0),
  idleP99 > 0 ? `${(r.p99 / idleP99).toFixed(1)}x` : '-',
  r.p99 < TARGET_MS ? 'PASS' : 'FAIL',
]);
const header = ['phase', 'p50 ms', 'p99 ms', 'max ms', 'events/s', 'p99 x idle', `p99 < ${TARGET_MS} ms`];
const widths = header.map((h, c) => Math.max(h.length, ...table.map((r) => r[c].length)));
const line = (cells: string[]) => `| ${cells.map((s, c) => s.padEnd(widths[c])).join(' | ')} |`;

const load = haveFashion
  ? 'tiny U-Net on Fashion-MNIST, batch 8, preview of 8 images x 10 steps every 20 steps'
  : 'toy MLP on toy:moons, batch 256, preview every 50 steps';
console.log(`Main-thread event-loop lag (monitorEventLoopDelay, ${RESOLUTION_MS} ms probe, probe period subtracted)`);
console.log(`training: ${load}; trained ${trained} during the bench`);
console.log(`sampling: DDPM ${LAB_REQUEST.steps} steps x ${LAB_REQUEST.n} points (ring-8), back to back`);
console.log(
  `Node ${process.versions.node}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of table) console.log(line(r));
console.log(
  'events/s: service events emitted (idle, start, load), ws frames decoded by the client, frames the page received',
);
console.log('');
if (pageStats) {
  const s = pageStats;
  console.log(`Renderer (headless Chromium, lab page, ${s.labRuns} lab runs started during the phase):`);
  console.log(
    `  event-loop lag (${RESOLUTION_MS} ms timer chain): p50 ${ms(s.lagP50)} ms, p99 ${ms(s.lagP99)} ms, ` +
      `max ${ms(s.lagMax)} ms -> ${s.lagP99 < TARGET_MS ? 'PASS' : 'FAIL'}`,
  );
  console.log(
    `  frame interval (requestAnimationFrame): p50 ${ms(s.frameP50)} ms, p99 ${ms(s.frameP99)} ms, ` +
      `max ${ms(s.frameMax)} ms`,
  );
  console.log(`  long tasks (> 50 ms): ${s.longTasks}, ${s.longTaskMs.toFixed(0)} ms in all`);
} else console.log(`Renderer: ${browserNote}`);
