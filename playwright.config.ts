/**
 * End-to-end tests: headless Debian Chromium against the production web host (`out/server/cli.js`), freshly built,
 * on a free port, with its data in a throwaway DIFFUSION_STUDIO_HOME. The server prints its URL; the port is
 * captured from that line into STUDIO_PORT (see tests/e2e/fixtures.ts).
 */
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The config is evaluated again in each test worker; they inherit the runner's directory through the environment.
process.env.STUDIO_E2E_HOME ??= mkdtempSync(join(tmpdir(), 'diffusion-studio-e2e-'));

export default defineConfig({
  testDir: 'tests/e2e',
  outputDir: 'test-results/e2e',
  globalTeardown: './tests/e2e/global-teardown.ts',
  // One server, one job slot on a 2-core machine: tests run one after another.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: 'npm run build:web --silent && node out/server/cli.js --port 0',
    wait: { stdout: /serving at http:\/\/127\.0\.0\.1:(?<studio_port>\d+)\// },
    env: { DIFFUSION_STUDIO_HOME: process.env.STUDIO_E2E_HOME },
    timeout: 180_000,
    stdout: 'ignore',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
  },
});
