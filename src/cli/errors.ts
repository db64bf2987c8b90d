/** A mistake in what the user typed or pointed us at: printed as one line, exit status 2, never a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}
