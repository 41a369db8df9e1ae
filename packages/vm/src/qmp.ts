import type { Socket } from 'node:net';

/**
 * A minimal QMP client (QEMU Machine Protocol, JSON lines over a socket): the greeting, the
 * capabilities handshake, then one command at a time. Asynchronous events are skipped.
 */
export class QmpClient {
  private buffer = '';
  private readonly replies: Record<string, unknown>[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        try {
          const msg = JSON.parse(line) as Record<string, unknown>;
          if (!('event' in msg)) this.replies.push(msg);
        } catch {
          /* not QMP: ignore */
        }
      }
      this.wake();
    });
    const end = () => {
      this.closed = true;
      this.wake();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  static async over(socket: Socket): Promise<QmpClient> {
    const client = new QmpClient(socket);
    const greeting = await client.next(10_000);
    if (!greeting || !('QMP' in greeting)) throw new Error('QMP: no greeting');
    await client.execute('qmp_capabilities');
    return client;
  }

  async execute(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const reply = await this.next(timeoutMs);
    if (!reply) throw new Error(`QMP ${command}: no reply`);
    if ('error' in reply) {
      const err = reply.error as { desc?: string };
      throw new Error(`QMP ${command}: ${err.desc ?? JSON.stringify(err)}`);
    }
    return reply.return;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async next(timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.replies.shift();
      if (reply) return reply;
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
