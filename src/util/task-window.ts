// A window of async tasks that a loop starts as it finds them, at most `limit`
// running at once: add() waits for room, settle() waits for every started task
// and throws the first failure. After a failure add() throws it at once, so
// the loop stops starting work; idle() waits without throwing (for a loop that
// failed itself and must not leave tasks running behind it).

export class TaskWindow {
  readonly #limit: number;
  readonly #running = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Starts `task` once fewer than `limit` run; throws the first failure of an earlier task instead. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.#failure === undefined && this.#running.size >= this.#limit) await Promise.race(this.#running);
    if (this.#failure !== undefined) throw this.#failure.error;
    const run: Promise<void> = task()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  /** Waits for every started task; throws the first failure. */
  async settle(): Promise<void> {
    await this.idle();
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  /** Waits for every started task, whatever their outcome. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
