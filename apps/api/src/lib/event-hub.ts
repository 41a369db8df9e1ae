import { assignmentChannel, submissionChannel, type PublishedEvent } from '@kgrader/db';
import type { Redis } from 'ioredis';

type Listener = (ev: PublishedEvent) => void;

/**
 * Fans a single Redis subscriber connection out to the SSE streams of this API process: one
 * SUBSCRIBE per watched submission (or assignment), however many browsers watch it.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(private readonly sub: Redis) {
    sub.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      let ev: PublishedEvent;
      try {
        ev = JSON.parse(message) as PublishedEvent;
      } catch {
        return;
      }
      for (const l of set) l(ev);
    });
  }

  /** Resolves once Redis confirmed the subscription, so nothing published afterwards is missed. */
  subscribe(submissionId: string, listener: Listener): Promise<() => Promise<void>> {
    return this.subscribeTo(submissionChannel(submissionId), listener);
  }

  /** Every event of every submission of the assignment (the same messages as `subscribe` gets). */
  subscribeAssignment(assignmentId: string, listener: Listener): Promise<() => Promise<void>> {
    return this.subscribeTo(assignmentChannel(assignmentId), listener);
  }

  private async subscribeTo(channel: string, listener: Listener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    const unsubscribe = async () => {
      const s = this.listeners.get(channel);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) {
        this.listeners.delete(channel);
        await this.sub.unsubscribe(channel).catch(() => {});
      }
    };
    try {
      await this.sub.subscribe(channel);
    } catch (err) {
      await unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /** submissions watched (the assignment streams are not counted) */
  get watched(): number {
    let n = 0;
    for (const channel of this.listeners.keys()) if (channel.startsWith(submissionChannel(''))) n++;
    return n;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.sub.disconnect();
  }
}
