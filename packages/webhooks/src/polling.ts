/**
 * The thin shell of every durable dispatcher (webhook outbox, grade passback, LTI notices,
 * platform calls): one round now, then one `intervalMs` after each round ends, never two at once;
 * stop() waits for the round in flight. A failed round is reported and the loop goes on.
 */
export class PollingLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly round: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(intervalMs: number): void {
    const tick = () => {
      this.running = this.round()
        .catch((err: unknown) => this.onError(err))
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
