/**
 * Shared e2e fixtures: the server's URL (its port is captured from its stdout by playwright.config.ts), a record of
 * console errors and page errors (a CSP violation shows up there), direct API calls, canvas pixel reads and
 * screenshots under test-results/screenshots/.
 */
import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const SCREENSHOT_DIR = join(import.meta.dirname, '../../test-results/screenshots');

export interface ApiReply<T> {
  status: number;
  body: { ok: boolean; value?: T; error?: { name: string; message: string } };
}

export interface StudioFixtures {
  consoleErrors: string[];
}

export const test = base.extend<StudioFixtures>({
  baseURL: async ({}, use) => {
    const port = process.env.STUDIO_PORT;
    if (!port) throw new Error('STUDIO_PORT is not set: the web server did not print its URL');
    await use(`http://127.0.0.1:${port}/`);
  },
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await use(errors);
    },
    { auto: true },
  ],
});

/** POST /api/<method> the way the web client does. */
export async function callApi<T = unknown>(
  request: APIRequestContext,
  method: string,
  arg?: unknown,
): Promise<ApiReply<T>> {
  const response = await request.post(`api/${method}`, {
    headers: { 'Content-Type': 'application/json' },
    data: arg === undefined ? '' : JSON.stringify(arg),
  });
  return { status: response.status(), body: await response.json() };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

/** Pixels of a canvas whose color is close to the given CSS variable's color (the points drawn in that tone). */
export async function countPointPixels(page: Page, testId: string, colorVar: string): Promise<number> {
  return page.getByTestId(testId).evaluate((el, name) => {
    const canvas = el as HTMLCanvasElement;
    const probe = document.createElement('canvas').getContext('2d')!;
    probe.fillStyle = getComputedStyle(canvas).getPropertyValue(name).trim();
    probe.fillRect(0, 0, 1, 1);
    const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    // Points are drawn with alpha over the background, so compare hue direction loosely: distance under 80.
    for (let i = 0; i < data.length; i += 4) {
      const d = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b);
      if (d < 80) count++;
    }
    return count;
  }, colorVar);
}

/** A cheap fingerprint of a canvas's pixels, to tell two frames apart. */
export async function canvasHash(page: Page, testId: string): Promise<number> {
  return page.getByTestId(testId).evaluate((el) => {
    const canvas = el as HTMLCanvasElement;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let h = 2166136261;
    for (let i = 0; i < data.length; i += 16) h = Math.imul(h ^ data[i], 16777619);
    return h >>> 0;
  });
}

export { expect };
