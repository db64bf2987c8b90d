import type { Page } from '@playwright/test';
import { callApi, canvasHash, countPointPixels, expect, screenshot, test } from './fixtures.ts';

interface SampleSetRow {
  id: string;
  sampler: string;
  steps: number;
  n: number;
  seed: number;
  model: { preset: string };
}

/** Binary WebSocket frames the page receives (every event is one frame; JSON text frames would be a bug). */
function watchEventFrames(page: Page) {
  const frames = { binary: 0, text: 0 };
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload === 'string') frames.text++;
      else frames.binary++;
    });
  });
  return frames;
}

async function openLab(page: Page) {
  await page.goto('./#/lab');
  await expect(page.getByLabel('Sampler', { exact: true }).locator('option')).not.toHaveCount(0);
}

test.describe('sampler lab', () => {
  test('streams a DPM++ 2M run step by step, draws it, scrubs it and records the sample set', async ({
    page,
    request,
    consoleErrors,
  }) => {
    const before = (await callApi<SampleSetRow[]>(request, 'listSampleSets')).body.value!;
    const frames = watchEventFrames(page);
    await openLab(page);
    await page.getByLabel('Mixture').selectOption('ring-8');
    await page.getByLabel('Sampler', { exact: true }).selectOption('dpmpp-2m');
    await page.getByLabel('Steps').fill('20');
    await page.getByLabel('Seed').fill('7');
    await page.getByLabel('Samples').fill('1000');
    await page.getByRole('button', { name: 'Run' }).click();

    await expect(page.getByTestId('step-counter')).toHaveText('20 / 20');
    await expect(page.getByTestId('lab-status')).toHaveText('Done');
    await expect(page.getByTestId('nfe')).toHaveText('20');
    await expect(page.getByTestId('sigma')).toHaveText('0');
    await expect(page.getByTestId('log-snr')).toHaveText('+∞');
    // Sampling ran in a worker thread (the host's main thread has id 0).
    const worker = await page.getByTestId('worker-thread').textContent();
    expect(Number(worker?.match(/thread (\d+)/)?.[1])).toBeGreaterThan(0);
    // started + 20 steps + done, each a binary frame.
    expect(frames.binary).toBeGreaterThanOrEqual(22);
    expect(frames.text).toBe(0);

    // Both canvases show the points (read back from their pixels).
    await expect.poll(() => countPointPixels(page, 'plot-xt', '--plot-point-x')).toBeGreaterThan(300);
    await expect.poll(() => countPointPixels(page, 'plot-x0', '--plot-point-x0')).toBeGreaterThan(300);
    await screenshot(page, 'sampler-lab-done');
    const finalHash = await canvasHash(page, 'plot-xt');

    // Scrub back to the start: x is the (scaled) prior at the largest sigma, a different picture.
    const timeline = page.getByLabel('Timeline');
    await timeline.fill('0');
    await expect(page.getByTestId('step-counter')).toHaveText('0 / 20');
    const sigma0 = Number(await page.getByTestId('sigma').textContent());
    expect(sigma0).toBeGreaterThan(10);
    await expect(page.getByTestId('log-snr')).toHaveText(/^−\d+\.\d\d$/);
    await expect.poll(() => canvasHash(page, 'plot-xt')).not.toBe(finalHash);
    // Keyboard scrubbing.
    await timeline.focus();
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('step-counter')).toHaveText('1 / 20');
    await timeline.fill('10');
    await expect(page.getByTestId('step-counter')).toHaveText('10 / 20');
    await screenshot(page, 'sampler-lab-scrubbed');
    await page.getByRole('button', { name: 'Latest' }).click();
    await expect(page.getByTestId('step-counter')).toHaveText('20 / 20');

    // The finished job was recorded as a sample set.
    const after = (await callApi<SampleSetRow[]>(request, 'listSampleSets')).body.value!;
    expect(after.length).toBe(before.length + 1);
    const added = after.find((s) => !before.some((b) => b.id === s.id))!;
    expect(added).toMatchObject({ sampler: 'dpmpp-2m', steps: 20, n: 1000, seed: 7, model: { preset: 'ring-8' } });

    // ... and the Runs page lists it.
    await page.getByRole('link', { name: 'Runs' }).click();
    await expect(page.getByTestId('sample-sets')).toContainText(added.id);
    await screenshot(page, 'runs-with-sample-sets');
    expect(consoleErrors).toEqual([]);
  });

  test('cancels a long DDPM run while the server stays responsive', async ({ page, request }) => {
    const before = (await callApi<SampleSetRow[]>(request, 'listSampleSets')).body.value!;
    await openLab(page);
    await page.getByLabel('Mixture').selectOption('grid-25');
    await page.getByLabel('Sampler', { exact: true }).selectOption('ddpm');
    await page.getByLabel('Steps').fill('1000');
    await page.getByLabel('Samples').fill('4000');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect(page.getByTestId('lab-status')).toHaveText('Running');
    await expect
      .poll(async () => Number((await page.getByTestId('step-counter').textContent())?.split(' / ')[0]))
      .toBeGreaterThan(3);

    // The host's main thread is free while the worker samples.
    const t0 = Date.now();
    expect((await callApi(request, 'info')).status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);

    await screenshot(page, 'sampler-lab-running');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.getByTestId('lab-status')).toHaveText('Cancelled');
    const stoppedAt = Number((await page.getByTestId('step-counter').textContent())?.split(' / ')[0]);
    expect(stoppedAt).toBeLessThan(1000);
    await expect(page.getByRole('button', { name: 'Run' })).toBeEnabled();
    // A cancelled job records nothing.
    const after = (await callApi<SampleSetRow[]>(request, 'listSampleSets')).body.value!;
    expect(after.length).toBe(before.length);

    // The slot is free again: a short run goes through.
    await page.getByLabel('Steps').fill('5');
    await page.getByLabel('Samples').fill('200');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect(page.getByTestId('lab-status')).toHaveText('Done');
    await expect(page.getByTestId('step-counter')).toHaveText('5 / 5');
  });

  test('shows input and service errors inline', async ({ page }) => {
    await openLab(page);
    await page.getByLabel('Steps').fill('0');
    await expect(page.getByRole('alert')).toContainText('Steps must be a whole number');
    await expect(page.getByRole('button', { name: 'Run' })).toBeDisabled();
    await page.getByLabel('Steps').fill('10');
    await expect(page.getByRole('button', { name: 'Run' })).toBeEnabled();

    // The service rejects DDIM's eta outside [0, 1]; the message shows in the lab.
    await page.getByLabel('Sampler', { exact: true }).selectOption('ddim');
    await expect(page.getByLabel('Eta')).toBeVisible();
    await page.getByLabel('Eta').fill('3');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect(page.getByTestId('lab-error')).toContainText('eta');
    await expect(page.getByTestId('lab-status')).toHaveText('Failed');
    await screenshot(page, 'sampler-lab-error');

    // Deterministic samplers have no eta.
    await page.getByLabel('Sampler', { exact: true }).selectOption('heun');
    await expect(page.getByLabel('Eta')).toHaveCount(0);
  });

  test('runs the sigma formulation in the dark theme', async ({ page }) => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await openLab(page);
    await page.getByLabel('Mixture').selectOption('moons');
    await page.getByLabel('Formulation').selectOption('sigma');
    await expect(page.getByLabel('Schedule')).toHaveValue('karras');
    await page.getByLabel('Sampler', { exact: true }).selectOption('euler-ancestral');
    await page.getByLabel('Steps').fill('30');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect(page.getByTestId('step-counter')).toHaveText('30 / 30');
    await expect(page.getByTestId('lab-status')).toHaveText('Done');
    await expect.poll(() => countPointPixels(page, 'plot-x0', '--plot-point-x0')).toBeGreaterThan(300);
    await page.getByLabel('Timeline').fill('3');
    await expect(page.getByTestId('step-counter')).toHaveText('3 / 30');
    await screenshot(page, 'sampler-lab-dark');
  });
});
