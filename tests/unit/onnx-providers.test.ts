// Provider probes that must not ask onnxruntime (it would print native errors on the terminal): webgpu on Linux
// needs the Vulkan loader.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { webgpuUnavailable } from '../../src/engines/onnx/session.ts';

describe.runIf(process.platform === 'linux')('webgpu probe on Linux', () => {
  it('finds a Vulkan loader on LD_LIBRARY_PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-vulkan-'));
    writeFileSync(join(dir, 'libvulkan.so.1'), '');
    expect(webgpuUnavailable({ LD_LIBRARY_PATH: `/nonexistent:${dir}` })).toBeNull();
  });

  it('says why when there is none (unless the system has one)', () => {
    const system = webgpuUnavailable({});
    if (system !== null) expect(system).toMatch(/libvulkan\.so\.1/);
  });
});
