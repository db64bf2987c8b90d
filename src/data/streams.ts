/**
 * How the data layer splits its Philox streams. Everything here uses StreamPurpose.data; the counter's sample word
 * and the high word of the block counter keep the uses apart, so no new purpose constant is needed:
 *
 *   use                 sample word        block high word   blocks (low word)
 *   epoch permutation   epoch              0                 one per 4 Fisher-Yates draws
 *   hflip decisions     epoch              1                 one per 128 positions in the epoch
 *   toy 2-D points      point index        2                 one per uniform or pair of normals
 *
 * Never change these: saved runs and checkpoints depend on them.
 */
export const DATA_BLOCK_HIGH = { shuffle: 0, flip: 1, toy: 2 } as const;

export const TWO_POW_32 = 4294967296;
