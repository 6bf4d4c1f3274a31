/**
 * Waiting for a promise unless a stop signal comes first, for loops that wait many times a second for as long as
 * the server runs (the audit_topic source waits 3 times per batch, the authorizer-log tailer once).
 *
 * Racing each wait against a promise that settles only at stop would leave every wait's reaction on that promise
 * until the stop: memory growing with every batch (about 460 bytes a wait). Here each wait registers one abort
 * listener and removes it as soon as the wait is decided, so nothing outlives it; the awaited promise keeps only
 * its own reaction, which goes when it settles.
 */

/**
 * The promise's value, or undefined once `signal` aborts (at once when it already has). A rejection is passed on
 * while the signal has not aborted; after, it is ignored.
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
