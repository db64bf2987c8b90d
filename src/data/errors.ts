/**
 * Dataset errors. Every message names the file (or folder) and the problem, so a user can fix it without a stack
 * trace; `name` survives the trip across worker threads (see src/api/errors.ts).
 */

/** Base class: something about a dataset on disk is wrong. `path` is the file or folder at fault. */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/** The files a dataset needs are not where it was asked to look. */
export class DatasetNotFoundError extends DatasetError {
  override name = 'DatasetNotFoundError';
}

/** A file exists but its contents are not what its format promises (truncated, wrong magic, mismatched sizes). */
export class DatasetFormatError extends DatasetError {
  override name = 'DatasetFormatError';
}
