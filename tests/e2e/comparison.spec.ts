/**
 * The Compare page end to end: a 2 x 2 comparison on an analytic mixture, cells appearing as they finish, a cell's
 * trajectory and two cells aligned by noise level, the saved list (reopen), and the grid export downloaded through
 * /exports/ with its size and provenance chunks checked. Screenshots in light and dark.
 */
import { readFileSync } from 'node:fs';
import type { AppInfo } from '../../src/api/contract.ts';
import { readPngText } from '../../src/io/png-text.ts';
import { callApi, expect, screenshot, test } from './fixtures.ts';

test.describe('comparison matrix', () => {
  test('runs a 2x2 comparison, opens trajectories, exports and downloads the labeled grid', async ({
    page,
    request,
    consoleErrors,
  }) => {
    const info = (await callApi<AppInfo>(request, 'info')).body.value!;
    const label = (name: string) => info.samplers.find((s) => s.name === name)!.label;
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto('./#/compare');
    await expect(page.getByRole('heading', { name: 'Compare samplers' })).toBeVisible();
    await expect(page.getByLabel('Mixture', { exact: true })).not.toHaveValue('');

    // Samplers: Euler and DPM++ 2M (the defaults are checked; make it exact).
    for (const s of info.samplers) {
      const box = page.getByRole('checkbox', {
        name: new RegExp(`^${label(s.name).replace(/[+()]/g, '\\$&')}( \\*)?$`),
      });
      if (s.name === 'euler' || s.name === 'dpmpp-2m') await box.check();
      else await box.uncheck();
    }
    await page.getByLabel('Mixture', { exact: true }).selectOption('ring-8');
    await page.getByLabel('Step counts (columns)').fill('10, 25');
    await page.getByLabel('Seed').fill('3');
    await page.getByLabel('Samples').fill('400');
    await page.getByRole('button', { name: 'Run comparison' }).click();

    const cells = page.getByTestId('matrix-cell');
    await expect(cells).toHaveCount(4);
    await expect(page.getByTestId('compare-status')).toHaveText('Done: 4 cells.');
    await expect(page.getByRole('rowheader', { name: 'euler' })).toBeVisible();
    await expect(page.getByRole('columnheader', { name: '25 steps' })).toBeVisible();
    await expect(cells.first()).toContainText('NFE 10');
    await expect(cells.first()).toContainText(/err \d/);
    // Scatters drew the points (the canvas records how many).
    await expect.poll(() => cells.first().locator('canvas').getAttribute('data-drawn')).toBe('400');

    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'compare-matrix-light');

    // A cell's trajectory: sigma starts high and the slider walks it down to 0 with the keyboard.
    await cells.nth(1).click();
    await expect(page.getByTestId('traj-panel')).toHaveCount(1);
    const slider = page.getByLabel(/σ =/);
    const first = Number(await page.getByTestId('traj-sigma').textContent());
    expect(first).toBeGreaterThan(10);
    await slider.focus();
    await page.keyboard.press('End');
    await expect(page.getByTestId('traj-sigma')).toHaveText('0');

    // Two cells aligned by noise level: the 10-step and 25-step cells share one sigma axis.
    await page.getByRole('button', { name: 'Compare with another cell' }).click();
    await cells.nth(0).click();
    await expect(page.getByTestId('traj-panel')).toHaveCount(2);
    await slider.focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    const panels = await page.getByTestId('traj-panel').allTextContents();
    const sigmas = panels.map((t) => Number(t.match(/σ ([\d.e+-]+)/)![1]));
    // Each shows its step nearest the shared sigma: within one step's ratio, though their step indices differ.
    expect(Math.abs(Math.log(sigmas[0] / sigmas[1]))).toBeLessThan(0.5);
    const steps = panels.map((t) => Number(t.match(/step (\d+) of/)![1]));
    expect(steps[0]).not.toBe(steps[1]);
    await screenshot(page, 'compare-light');

    // Export the grid and download it through /exports/.
    await page.getByRole('button', { name: 'Export grid' }).click();
    const links = page.getByRole('list', { name: 'Exported files' }).getByRole('link');
    await expect(links).toHaveCount(2);
    const pngName = (await links.first().textContent())!;
    expect(pngName).toMatch(/^comparison-.+\.png$/);
    const download = page.waitForEvent('download');
    await links.first().click();
    const file = await (await download).path();
    const png = readFileSync(file);
    expect(png.readUInt32BE(16)).toBe(150 + 2 * 180 + 10);
    expect(png.readUInt32BE(20)).toBe(66 + 2 * (160 + 18 + 10) + 10);
    const text = readPngText(png);
    expect(text.seed).toBe('3');
    const provenance = JSON.parse(text.cells) as { sampler: string; steps: number; seed: number; eta: null }[];
    expect(provenance.map((c) => `${c.sampler}/${c.steps}/${c.seed}`)).toEqual([
      'euler/10/3',
      'euler/25/3',
      'dpmpp-2m/10/3',
      'dpmpp-2m/25/3',
    ]);
    expect(JSON.parse(text.model)).toMatchObject({ kind: 'gmm', source: 'ring-8' });
    const sidecar = await request.get(`exports/${encodeURIComponent((await links.nth(1).textContent())!)}`);
    expect(sidecar.status()).toBe(200);
    expect(sidecar.headers()['content-disposition']).toMatch(/^attachment/);
    expect((await sidecar.json()).cells).toHaveLength(4);

    // Saved: it is listed, and reopens after a reload.
    await page.reload();
    const saved = page.getByRole('region', { name: 'Saved comparisons' }).getByRole('listitem');
    await expect(saved.first()).toContainText('completed · 4/4 cells');
    await saved.first().getByRole('button', { name: 'Open' }).click();
    await expect(page.getByTestId('matrix-cell')).toHaveCount(4);
    await expect(page.getByTestId('compare-status')).toHaveText('Done: 4 cells.');

    await page.getByRole('button', { name: 'Dark theme' }).click();
    await page.getByTestId('matrix-cell').nth(3).click();
    await expect(page.getByTestId('traj-panel')).toHaveCount(1);
    await screenshot(page, 'compare-dark');
    expect(consoleErrors).toEqual([]);
  });

  test('shows progress of a long comparison and cancels it', async ({ page, consoleErrors }) => {
    await page.goto('./#/compare');
    await expect(page.getByLabel('Mixture', { exact: true })).not.toHaveValue('');
    await page.getByLabel('Step counts (columns)').fill('1000, 999');
    await page.getByLabel('Samples').fill('20000');
    await page.getByRole('button', { name: 'Run comparison' }).click();
    // Progress names the stage (the reference ODE solve comes first) and its step.
    await expect(page.getByTestId('compare-status')).toContainText(/step \d+ of (1000|999)/);
    await expect(page.getByRole('progressbar', { name: 'Cells finished' })).toBeVisible();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.getByTestId('compare-status')).toHaveText(/^Cancelled after \d of 4 cells\.$/);
    const saved = page.getByRole('region', { name: 'Saved comparisons' }).getByRole('listitem');
    await expect(saved.first()).toContainText('cancelled');
    expect(consoleErrors).toEqual([]);
  });
});
