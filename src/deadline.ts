/**
 * The one deadline helper of the cold paths (connecting, closing, readiness, shutdown, management
 * calls). The hot path's store calls share one timer instead (`src/store/deadlines.ts`).
 *
 * @module
 */

/** What {@linkcode withDeadline} resolves to when the deadline passes first. */
export const DEADLINE_PASSED: unique symbol = Symbol("deadline passed");

/**
 * Waits for `promise` at most `ms` milliseconds: resolves to its value, rejects with its error, or
 * resolves to {@linkcode DEADLINE_PASSED} once `ms` have passed. The timer is cleared either way;
 * the promise itself is not cancelled (its later rejection is ignored).
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | typeof DEADLINE_PASSED> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(DEADLINE_PASSED), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
