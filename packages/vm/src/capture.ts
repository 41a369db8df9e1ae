import { captureGapLine } from '@kgrader/schemas';

/**
 * Keeps the first `headBytes` and the last `tailBytes` of a stream and counts the rest, so a
 * driver flooding the console costs bounded memory and the report at the end is still kept.
 */
export class HeadTailCapture {
  private readonly head: Buffer[] = [];
  private headSize = 0;
  private tail: Buffer[] = [];
  private tailSize = 0;
  /** the byte just before the kept tail, to know whether the tail starts at a line start */
  private byteBeforeTail: number | undefined;
  total = 0;

  constructor(
    private readonly headBytes: number,
    private readonly tailBytes: number,
  ) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.headSize < this.headBytes) {
      const part = chunk.subarray(0, this.headBytes - this.headSize);
      this.head.push(part);
      this.headSize += part.length;
      chunk = chunk.subarray(part.length);
      if (chunk.length === 0) return;
    }
    this.tail.push(chunk);
    this.tailSize += chunk.length;
    if (this.tailSize > this.tailBytes * 2) this.compactTail();
  }

  /** Bytes dropped between head and tail. */
  get droppedBytes(): number {
    return Math.max(0, this.total - this.headSize - Math.min(this.tailSize, this.tailBytes));
  }

  /** The kept text; a marker line stands where bytes were dropped, cut to whole lines. */
  text(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    this.compactTail();
    const tail = Buffer.concat(this.tail).toString('utf8');
    if (this.droppedBytes === 0) return head + tail;
    // cut to whole lines on both sides, and count the partial lines cut as dropped too
    const headLines = head.slice(0, head.lastIndexOf('\n') + 1);
    const tailLines = this.byteBeforeTail === 0x0a ? tail : tail.slice(tail.indexOf('\n') + 1);
    const shown = Buffer.byteLength(headLines) + Buffer.byteLength(tailLines);
    return `${headLines}${captureGapLine(this.total - shown)}\n${tailLines}`;
  }

  private compactTail(): void {
    const all = Buffer.concat(this.tail);
    const cut = Math.max(0, all.length - this.tailBytes);
    if (cut > 0) this.byteBeforeTail = all[cut - 1];
    const kept = all.subarray(cut);
    this.tail = [kept];
    this.tailSize = kept.length;
  }
}
