import { callApi, expect, screenshot, test } from './fixtures.ts';

test.describe('app shell', () => {
  test('loads the Runs page with engine info from the service', async ({ page, consoleErrors }) => {
    await page.goto('./');
    await expect(page.locator('.app-name')).toHaveText('Diffusion Studio');
    await expect(page.getByTestId('engine-info')).toContainText('Web server');
    await expect(page.getByTestId('engine-info')).toContainText(/Node \d+/);
    await expect(page.getByRole('heading', { name: 'Runs', level: 1 })).toBeVisible();
    await expect(page.getByTestId('runs-empty')).toContainText('No training runs yet');
    await expect(page.getByRole('link', { name: 'Runs' })).toHaveAttribute('aria-current', 'page');
    await screenshot(page, 'runs-empty');
    expect(consoleErrors).toEqual([]);
  });

  test('navigates by keyboard and keeps focus visible', async ({ page }) => {
    await page.goto('./');
    await expect(page.getByTestId('engine-info')).toContainText('Web server');
    // Tab order starts with the skip link, then the navigation.
    await page.keyboard.press('Tab');
    await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const lab = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sampler lab' });
    await expect(lab).toBeFocused();
    const outline = await lab.evaluate((el) => getComputedStyle(el).outlineStyle);
    expect(outline).not.toBe('none');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { name: 'Sampler lab' })).toBeVisible();
    await expect(page).toHaveURL(/#\/lab$/);
    await page.goBack();
    await expect(page.getByRole('heading', { name: 'Runs', level: 1 })).toBeVisible();
  });

  test('lists the samplers the service reports', async ({ page, request }) => {
    const info = await callApi(request, 'info');
    expect(info.status).toBe(200);
    const samplers = (info.body.value as { samplers: Array<{ name: string; label: string; stochastic: boolean }> })
      .samplers;
    expect(samplers.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'ddpm',
        'ddim',
        'euler',
        'euler-ancestral',
        'heun',
        'dpmpp-2m',
        'dpmpp-2m-sde',
        'unipc',
        'lms',
      ]),
    );
    await page.goto('./#/lab');
    const options = page.getByLabel('Sampler', { exact: true }).locator('option');
    await expect(options).toHaveCount(samplers.length);
    expect(await options.evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value))).toEqual(
      samplers.map((s) => s.name),
    );
    const ddpm = samplers.find((s) => s.name === 'ddpm')!;
    await expect(options.first()).toHaveText(`${ddpm.label}${ddpm.stochastic ? ' · stochastic' : ''}`);
  });

  test('switches between light and dark themes', async ({ page }) => {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto('./#/lab');
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
    const lightBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.getByRole('button', { name: 'Dark theme' }).click();
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
    const darkBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(darkBg).not.toBe(lightBg);
    // The choice survives a reload.
    await page.reload();
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
    await page.getByRole('button', { name: 'Light theme' }).click();
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  });

  test('follows the system dark preference', async ({ page }) => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto('./');
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
    await expect(page.getByTestId('runs-empty')).toBeVisible();
    await screenshot(page, 'runs-empty-dark');
  });
});

test.describe('web host API', () => {
  test('answers calls with typed envelopes and refuses cross-origin callers', async ({ request, baseURL }) => {
    const bad = await callApi(request, 'sampleAnalytic', {
      mixture: { preset: 'ring-8' },
      formulation: 'vp',
      schedule: 'linear',
      steps: 0,
      sampler: 'euler',
      seed: 0,
      n: 10,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ name: 'ValidationError', message: expect.stringContaining('steps') });

    const unknown = await callApi(request, 'dropDatabase');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.name).toBe('NotFoundError');

    const preset = await callApi(request, 'sampleAnalytic', {
      mixture: { preset: 'nope' },
      formulation: 'vp',
      schedule: 'linear',
      steps: 5,
      sampler: 'euler',
      seed: 0,
      n: 10,
    });
    expect(preset.body.error?.name).toBe('NotFoundError');

    const crossOrigin = await request.post(`${baseURL}api/info`, {
      headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
      data: '',
    });
    expect(crossOrigin.status()).toBe(403);

    const form = await request.post(`${baseURL}api/listRuns`, { headers: { 'Content-Type': 'text/plain' }, data: '' });
    expect(form.status()).toBe(415);

    const page = await request.get(`${baseURL}`);
    expect(page.headers()['content-security-policy']).toContain("script-src 'self'");
  });
});
