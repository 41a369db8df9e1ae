import { z } from 'zod';
import { TestStatus } from './result.js';

/**
 * One event of the harness's result channel (a virtio-serial port; each line is signed, see
 * packages/harness/PROTOCOL.md). The kernel console is a separate channel; the harness also
 * writes `kgrader: <nonce>` markers there through /dev/kmsg so reports can be tied to the test
 * that was running.
 */
export const HarnessEvent = z.discriminatedUnion('event', [
  z.object({ event: z.literal('hello'), cpus: z.number().int(), kernel: z.string(), uptimeMs: z.number() }),
  z.object({ event: z.literal('test_start'), name: z.string(), uptimeMs: z.number() }),
  z.object({
    event: z.literal('test_end'),
    name: z.string(),
    status: TestStatus,
    output: z.string(),
    durationMs: z.number(),
  }),
  /** where the module's sections were loaded, so raw addresses (kmemleak after unload) can be mapped back */
  z.object({
    event: z.literal('module'),
    name: z.string(),
    sections: z.record(z.string(), z.string()),
  }),
  z.object({ event: z.literal('devices'), paths: z.array(z.string()) }),
  z.object({ event: z.literal('log'), message: z.string() }),
  /** kernel log records of level warning or worse, read by the harness from /dev/kmsg, as console lines */
  z.object({ event: z.literal('kmsg'), lines: z.array(z.string()), dropped: z.number().int(), lost: z.number().int() }),
  /** a printk setting or the console list changed under the harness (and was set back when it could be) */
  z.object({ event: z.literal('tamper'), what: z.string() }),
  z.object({ event: z.literal('done'), uptimeMs: z.number() }),
]);
export type HarnessEvent = z.infer<typeof HarnessEvent>;
