/**
 * Named 2-D Gaussian mixtures for the sampler lab. Each stresses samplers differently: many small, well separated
 * modes (ring, grid) expose mode dropping and blur; unequal weights expose bias toward the heavy mode; thin curved
 * structures (moons, spiral) expose too few steps. Ids are stable: saved sample sets refer to them.
 */
import type { MixturePreset } from '../api/contract.ts';
import type { GaussianMixture } from '../core/gmm.ts';

const round = (v: number) => Math.round(v * 1e4) / 1e4;

function onCurve(points: Array<[number, number]>, std: number): GaussianMixture {
  return {
    weights: points.map(() => 1 / points.length),
    means: points.map(([a, b]) => [round(a), round(b)]),
    stds: points.map(() => std),
  };
}

function ring(k: number, radius: number, std: number): GaussianMixture {
  return onCurve(
    Array.from({ length: k }, (_, i) => {
      const a = (2 * Math.PI * i) / k;
      return [radius * Math.cos(a), radius * Math.sin(a)];
    }),
    std,
  );
}

function grid(side: number, spacing: number, std: number): GaussianMixture {
  const offset = ((side - 1) * spacing) / 2;
  const points: Array<[number, number]> = [];
  for (let r = 0; r < side; r++)
    for (let c = 0; c < side; c++) points.push([c * spacing - offset, r * spacing - offset]);
  return onCurve(points, std);
}

function moons(perMoon: number, std: number): GaussianMixture {
  const points: Array<[number, number]> = [];
  for (let i = 0; i < perMoon; i++) {
    const a = (Math.PI * i) / (perMoon - 1);
    points.push([Math.cos(a) - 0.5, Math.sin(a) - 0.25]);
    points.push([0.5 - Math.cos(a), 0.25 - Math.sin(a)]);
  }
  return onCurve(
    points.map(([a, b]) => [a * 1.6, b * 1.6]),
    std,
  );
}

function spiral(k: number, turns: number, std: number): GaussianMixture {
  return onCurve(
    Array.from({ length: k }, (_, i) => {
      const t = 0.15 + (i / (k - 1)) * 0.85;
      const a = 2 * Math.PI * turns * t;
      return [2.4 * t * Math.cos(a), 2.4 * t * Math.sin(a)];
    }),
    std,
  );
}

export const MIXTURE_PRESETS: readonly MixturePreset[] = [
  {
    id: 'ring-8',
    label: 'Ring of 8',
    description: 'Eight equal, narrow modes on a circle of radius 2.',
    mixture: ring(8, 2, 0.12),
  },
  {
    id: 'grid-25',
    label: 'Grid of 25',
    description: 'A 5 x 5 grid of tight modes: blur and mode dropping show at once.',
    mixture: grid(5, 1, 0.07),
  },
  {
    id: 'moons',
    label: 'Two moons',
    description: 'Two interleaved arcs built from 16 small components.',
    mixture: moons(8, 0.1),
  },
  {
    id: 'spiral',
    label: 'Spiral',
    description: 'Sixteen components along one and a half turns of a spiral.',
    mixture: spiral(16, 1.5, 0.09),
  },
  {
    id: 'unequal-pair',
    label: 'Unequal pair',
    description: 'Weights 0.8 and 0.2, different widths: does a sampler keep the 4:1 ratio?',
    mixture: {
      weights: [0.8, 0.2],
      means: [
        [-1.2, -0.4],
        [1.4, 0.8],
      ],
      stds: [0.35, 0.6],
    },
  },
  {
    id: 'single',
    label: 'Single Gaussian',
    description: 'One isotropic Gaussian, whose probability-flow ODE has a closed form.',
    mixture: { weights: [1], means: [[0.5, -0.5]], stds: [0.5] },
  },
];

export function findPreset(id: string): MixturePreset | undefined {
  return MIXTURE_PRESETS.find((p) => p.id === id);
}
