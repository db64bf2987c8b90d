/**
 * Short sortable ids: a prefix, the creation time in milliseconds (9 base-36 digits, good until the year 5138) and
 * 5 base-36 digits of randomness, e.g. 'r_0mb3k9x2ak7f3q'. Ids made in the same millisecond by this process count
 * up from the previous one, so string order is creation order within a process and across runs of the app.
 */
import { randomInt } from 'node:crypto';

const TIME_DIGITS = 9;
const RAND_DIGITS = 5;
const RAND_RANGE = 36 ** RAND_DIGITS;

let lastTime = -1;
let lastRand = 0;

export function newId(prefix: string, now: number = Date.now()): string {
  let time = Math.max(now, lastTime);
  let rand: number;
  if (time === lastTime) {
    rand = lastRand + 1;
    // Exhausted this millisecond's space (60 M ids): borrow the next millisecond.
    if (rand >= RAND_RANGE) {
      time += 1;
      rand = randomInt(RAND_RANGE / 2);
    }
  } else {
    // Start in the lower half so increments within the millisecond rarely overflow.
    rand = randomInt(RAND_RANGE / 2);
  }
  lastTime = time;
  lastRand = rand;
  return `${prefix}_${time.toString(36).padStart(TIME_DIGITS, '0')}${rand.toString(36).padStart(RAND_DIGITS, '0')}`;
}
