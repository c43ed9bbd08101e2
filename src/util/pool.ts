// Runs async jobs with a concurrency limit, in input order of start. The first
// failure aborts the shared signal so the other jobs can stop early, and is the
// error thrown once every started job has settled (nothing is left running).

export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  job: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  parent?: AbortSignal,
): Promise<R[]> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent?.reason);
  parent?.addEventListener('abort', onAbort, { once: true });
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure && !controller.signal.aborted) {
      const index = next++;
      try {
        results[index] = await job(items[index] as T, index, controller.signal);
      } catch (error) {
        failure ??= { error };
        controller.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  } finally {
    parent?.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure.error;
  if (parent?.aborted) throw parent.reason;
  return results;
}
