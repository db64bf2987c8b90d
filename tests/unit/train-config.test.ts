import { describe, expect, it } from 'vitest';
import { resolveTrainConfig, TRAIN_DEFAULTS } from '../../src/train/config.ts';

describe('resolveTrainConfig', () => {
  it('fills defaults', () => {
    const c = resolveTrainConfig({ data: { kind: 'fashion-mnist' } });
    expect(c).toMatchObject({ ...TRAIN_DEFAULTS, data: { kind: 'fashion-mnist' } });
    expect(resolveTrainConfig({ data: { kind: 'toy' } }).data).toEqual({ kind: 'toy', toy: 'ring', toySize: 10_000 });
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an object', 3, /must be an object/],
    ['unknown option', { data: { kind: 'toy' }, lerning_rate: 1 }, /unknown training option "lerning_rate"/],
    [
      'bad data kind',
      { data: { kind: 'imagenet' } },
      /data.kind must be one of fashion-mnist, mnist, cifar10, folder, toy/,
    ],
    ['folder without dir', { data: { kind: 'folder' } }, /data.dir is required for an image folder/],
    ['cifar without dir', { data: { kind: 'cifar10' } }, /data.dir is required for cifar10/],
    ['bad toy', { data: { kind: 'toy', toy: 'spiral' } }, /data.toy must be one of/],
    ['bad channels', { data: { kind: 'folder', dir: '/x', channels: 2 } }, /data.channels must be 1 or 3/],
    ['zero lr', { data: { kind: 'toy' }, lr: 0 }, /lr must be a number in \(0, 10\]/],
    ['NaN lr', { data: { kind: 'toy' }, lr: NaN }, /lr must be a number/],
    ['fractional batch', { data: { kind: 'toy' }, batchSize: 2.5 }, /batchSize must be an integer/],
    ['bad objective', { data: { kind: 'toy' }, objective: 'score' }, /objective must be one of eps, x0, v/],
    ['hflip on toy', { data: { kind: 'toy' }, hflip: true }, /hflip applies to images/],
  ];
  for (const [what, raw, message] of bad) {
    it(`rejects ${what}`, () => expect(() => resolveTrainConfig(raw)).toThrow(message));
  }
});
