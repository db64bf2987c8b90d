#!/usr/bin/env node
// `npm test`: the unit suite (vitest), then the end-to-end suite (Playwright against `npm run serve`'s server),
// then one closing line "tests: N passed, M failed" that CI reads. Exits non-zero if anything failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'ds-test-'));
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const run = (args, env = {}) => spawnSync(npx, args, { stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;

const unitJson = join(dir, 'unit.json');
const unitStatus = run(['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${unitJson}`]);

// Playwright's webServer builds the web host and serves it (playwright.config.ts).
const e2eJson = join(dir, 'e2e.json');
const e2eStatus = run(['playwright', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: e2eJson });

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(unitJson)) {
  const r = JSON.parse(readFileSync(unitJson, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + r.numTodoTests;
}
if (existsSync(e2eJson)) {
  const s = JSON.parse(readFileSync(e2eJson, 'utf8')).stats;
  passed += s.expected + s.flaky;
  failed += s.unexpected;
  skipped += s.skipped;
}
const ok = unitStatus === 0 && e2eStatus === 0;
if (!ok && failed === 0) failed = 1; // a suite that crashed before reporting still counts as a failure
console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(ok ? 0 : 1);
