/**
 * Runs management end to end: a tiny toy run made with the form and trained to completion; its heatmap, film strip
 * and checkpoints table; pin a checkpoint, fork from it with a new learning rate, rename runs inline (keyboard
 * only), delete a run through the confirm dialog (Esc cancels first). Screenshots of the main screens in light and
 * dark themes go to test-results/screenshots/.
 */
import type { Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, screenshot, SCREENSHOT_DIR, test } from './fixtures.ts';

/** The whole page, for views taller than the 1280x800 viewport. */
async function fullPage(page: Page, name: string) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky header then sits at the top of the capture
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/**
 * Tabs through the page; returns every focused control without an accessible name or without a visible focus
 * outline (what a keyboard user could not identify or could not see).
 */
async function keyboardProblems(page: Page, presses: number): Promise<string[]> {
  await page.locator('body').click({ position: { x: 1, y: 1 } });
  const problems: string[] = [];
  for (let i = 0; i < presses; i++) {
    await page.keyboard.press('Tab');
    const issue = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const labelled = el.getAttribute('aria-labelledby');
      const name =
        el.getAttribute('aria-label') ??
        (labelled ? document.getElementById(labelled)?.textContent : null) ??
        ((el as HTMLInputElement).labels?.[0]?.textContent || null) ??
        el.textContent;
      const style = getComputedStyle(el);
      const visible = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
      const what = `${el.tagName.toLowerCase()}#${el.id || ''}.${el.className}`;
      if (!name || !name.trim()) return `${what}: no accessible name`;
      if (!visible) return `${what} "${name.trim()}": no visible focus`;
      return null;
    });
    if (issue) problems.push(issue);
  }
  return problems;
}

async function setTheme(page: Page, theme: 'light' | 'dark') {
  const toggle = page.getByRole('button', { name: theme === 'dark' ? 'Dark theme' : 'Light theme' });
  if (await toggle.isVisible()) await toggle.click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', theme);
}

test.describe('runs management', () => {
  test('trains, shows history, pins, forks, renames and deletes runs', async ({ page, consoleErrors }) => {
    test.setTimeout(240_000);
    await page.goto('./#/runs/new');
    await setTheme(page, 'light');
    await expect(page.getByRole('heading', { name: 'New training run' })).toBeVisible();
    await page.getByLabel('Dataset').selectOption('toy:moons');
    await page.getByLabel('Steps', { exact: true }).fill('300');
    await page.getByLabel('Batch size').fill('64');
    await page.getByLabel('Learning rate').fill('0.002');
    await page.getByLabel('Checkpoint every').fill('100');
    await page.getByLabel('Preview every').fill('0');
    // Every TrainConfig option is in the form; a bad one is answered at its field with the service's message.
    await page.getByText('Optimizer, schedule and EMA').click();
    await page.getByLabel('EMA decay').fill('2');
    await page.getByRole('button', { name: 'Create run' }).click();
    await expect(page.locator('#err-emaDecay')).toHaveText('emaDecay must be a number in [0, 1] (got 2)');
    await expect(page.getByLabel('EMA decay')).toHaveAttribute('aria-invalid', 'true');
    await page.getByLabel('EMA decay').fill('0.99');
    await expect(page.getByLabel('Training engine')).toHaveValue('onnx');
    await expect(page.getByLabel('Keep last checkpoints')).toHaveValue('3');
    expect(await keyboardProblems(page, 45)).toEqual([]);
    await fullPage(page, 'new-run-form-light');
    await setTheme(page, 'dark');
    await fullPage(page, 'new-run-form-dark');
    await setTheme(page, 'light');
    await page.getByRole('button', { name: 'Create run' }).click();
    await expect(page).toHaveURL(/#\/runs\/r_\w+$/);
    const parentUrl = page.url();
    const state = page.getByTestId('run-state');

    // Train to completion: the heatmap fills with reports, the film strip holds one preview per checkpoint.
    await page.getByRole('button', { name: 'Start' }).click();
    await expect(state).toHaveText(/completed|failed/, { timeout: 180_000 });
    // A failure names its cause in the banner; show it rather than only the state.
    if ((await state.innerText()) === 'failed') throw new Error(await page.locator('.banner').first().innerText());
    await expect
      .poll(async () => Number(await page.getByTestId('loss-heatmap').getAttribute('data-reports')))
      .toBeGreaterThan(0);
    const strip = page.getByTestId('film-strip');
    await expect(strip.getByRole('button')).toHaveText(['100', '200', '300']);
    const table = page.getByTestId('checkpoints-table');
    await expect(table.locator('tbody tr')).toHaveCount(3); // keepLast 3: steps 100..300 (step 0 pruned)

    // Reload: everything comes back from the store.
    await page.reload();
    await expect(strip.getByRole('button')).toHaveText(['100', '200', '300']);
    await strip.getByRole('button', { name: 'Preview at step 100' }).click();
    await expect(page.getByTestId('preview-caption')).toContainText('step 100');
    await expect(strip.getByRole('button', { name: 'Preview at step 100' })).toHaveAttribute('aria-pressed', 'true');
    expect(await keyboardProblems(page, 30)).toEqual([]);
    await fullPage(page, 'run-detail-light');
    await setTheme(page, 'dark');
    await fullPage(page, 'run-detail-dark');
    await setTheme(page, 'light');

    // Pin step 200, fork from it with a lower learning rate.
    await page.getByRole('button', { name: 'Pin checkpoint at step 200' }).click();
    await expect(table.locator('tr[data-step="200"]')).toContainText('pinned');
    await page.getByRole('button', { name: 'Fork from checkpoint at step 200' }).click();
    const forkDialog = page.getByRole('dialog', { name: 'Fork from step 200' });
    await expect(forkDialog).toBeVisible();
    await forkDialog.getByLabel('Train to step').fill('100');
    await forkDialog.getByRole('button', { name: 'Create fork' }).click();
    await expect(forkDialog.getByTestId('fork-error')).toHaveText("steps 100 is below the checkpoint's step 200");
    await forkDialog.getByLabel('Train to step').fill('400');
    await forkDialog.getByLabel('Learning rate').fill('0.0005');
    await forkDialog.getByRole('button', { name: 'Create fork' }).click();
    await expect(forkDialog).toBeHidden();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('toy:moons tiny (fork @ 200)');
    await expect(page).not.toHaveURL(parentUrl);
    await expect(page.getByTestId('run-state')).toHaveText('created');
    await expect(page.getByTestId('train-step')).toHaveText('200 / 400');
    await expect(page.getByTestId('film-strip').getByRole('button')).toHaveText(['200']);
    await expect(page.getByRole('link', { name: 'its parent run' })).toBeVisible();

    // The list: every column, the fork and its parent.
    await page.goto('./#/runs');
    const runsTable = page.getByTestId('runs-table');
    await expect(runsTable.getByRole('columnheader')).toHaveText([
      'Name',
      'Status',
      'Dataset',
      'Preset',
      'Step',
      'Loss',
      'Engine',
      'Created',
      'Actions',
    ]);
    const parentRow = runsTable.getByRole('row', { name: /^toy:moons tiny Rename/ });
    const forkRow = runsTable.getByRole('row', { name: /fork @ 200/ });
    await expect(parentRow).toContainText('completed');
    await expect(parentRow).toContainText('300 / 300');
    await expect(parentRow).toContainText('onnx-'); // the default engine
    await expect(forkRow).toContainText('created');

    // Rename the fork with the keyboard only: focus Rename, Enter, type, Enter; Esc cancels an edit.
    const renameFork = forkRow.getByRole('button', { name: /^Rename/ });
    await renameFork.focus();
    await page.keyboard.press('Enter');
    const nameField = forkRow.getByRole('textbox');
    await expect(nameField).toBeFocused();
    await page.keyboard.type('scratch');
    await page.keyboard.press('Escape');
    await expect(forkRow.getByRole('link')).toHaveText('toy:moons tiny (fork @ 200)');
    await expect(renameFork).toBeFocused();
    await page.keyboard.press('Enter');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('moons, lower lr');
    await page.keyboard.press('Enter');
    const renamed = runsTable.getByRole('row', { name: /moons, lower lr/ });
    await expect(renamed.getByRole('link')).toHaveText('moons, lower lr');
    expect(await keyboardProblems(page, 14)).toEqual([]);
    await screenshot(page, 'runs-list-light');
    await setTheme(page, 'dark');
    await screenshot(page, 'runs-list-dark');
    await setTheme(page, 'light');

    // Delete the parent: the dialog asks first (Esc cancels), then deletes; the fork stays.
    await parentRow.getByRole('button', { name: 'Delete toy:moons tiny' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete run “toy:moons tiny”?' });
    await expect(confirm).toBeVisible();
    await expect(confirm).toContainText('3 checkpoint(s)');
    await screenshot(page, 'runs-delete-dialog');
    await page.keyboard.press('Escape');
    await expect(confirm).toBeHidden();
    await expect(parentRow).toBeVisible();
    await expect(parentRow.getByRole('button', { name: 'Delete toy:moons tiny' })).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(confirm).toBeVisible();
    await confirm.getByRole('button', { name: 'Delete run' }).click();
    await expect(confirm).toBeHidden();
    await expect(runsTable.locator('tbody tr')).toHaveCount(1);
    await expect(runsTable.locator('tbody tr')).toContainText('moons, lower lr');

    // The fork still opens, with its provenance link cleared and its checkpoint intact.
    await renamed.getByRole('link').click();
    await expect(page.getByTestId('checkpoints-table').locator('tbody tr')).toHaveCount(1);
    await expect(page.getByRole('link', { name: 'its parent run' })).toHaveCount(0);
    expect(consoleErrors.filter((e) => !e.includes('status of 400'))).toEqual([]);
  });
});
