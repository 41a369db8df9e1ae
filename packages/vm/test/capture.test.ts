import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeadTailCapture } from '../src/index.js';

/** The text without its marker line, and the count the marker gives. */
function splitMarker(text: string): [string, number] {
  const m = /\[kgrader: (\d+) bytes of console output dropped here\]\n/.exec(text);
  assert.ok(m, 'a marker line');
  return [text.replace(m[0], ''), Number(m[1])];
}

const marker = (n: number) => `[kgrader: ${n} bytes of console output dropped here]\n`;

/** `count` numbered lines of the same length: `line01\n`, `line02\n`... (7 bytes each). */
function numberedLines(count: number): string {
  let out = '';
  for (let i = 1; i <= count; i++) out += `line${String(i).padStart(2, '0')}\n`;
  return out;
}

/** A console-like stream of varied line lengths. */
function consoleText(lines: number): string {
  let out = '';
  for (let i = 0; i < lines; i++) {
    out += `[${(i / 100).toFixed(6).padStart(12)}] msgbuf: message ${i} ${'x'.repeat((i * 7) % 53)}\n`;
  }
  return out;
}

/** Deterministic pseudo-random chunk sizes. */
function* chunkSizes(seed: number, max: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (x * 1103515245 + 12345) % 2147483648;
    yield 1 + (x % max);
  }
}

function capture(head: number, tail: number, text: string | Buffer, chunking: 'one' | 'bytes' | 'random' = 'one'): HeadTailCapture {
  const c = new HeadTailCapture(head, tail);
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  if (chunking === 'one') c.push(bytes);
  else if (chunking === 'bytes') for (let i = 0; i < bytes.length; i++) c.push(bytes.subarray(i, i + 1));
  else {
    const sizes = chunkSizes(42, 700);
    for (let i = 0; i < bytes.length; ) {
      const n = sizes.next().value as number;
      c.push(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return c;
}

describe('HeadTailCapture under the cap', () => {
  it('keeps everything and drops nothing', () => {
    const c = new HeadTailCapture(16, 16);
    c.push(Buffer.from('abc\n'));
    c.push(Buffer.from('def\n'));
    assert.equal(c.text(), 'abc\ndef\n');
    assert.equal(c.droppedBytes, 0);
    assert.equal(c.total, 8);
  });

  it('keeps everything at exactly head + tail bytes, even partial lines', () => {
    const text = 'abcdefgh\nijklmno';
    assert.equal(text.length, 16);
    const c = capture(8, 8, text);
    assert.equal(c.droppedBytes, 0);
    assert.equal(c.text(), text);
  });

  it('is empty before any push', () => {
    const c = new HeadTailCapture(4, 4);
    assert.equal(c.text(), '');
    assert.equal(c.total, 0);
    assert.equal(c.droppedBytes, 0);
  });

  it('ignores empty chunks', () => {
    const c = new HeadTailCapture(4, 4);
    c.push(Buffer.alloc(0));
    c.push(Buffer.from('ab\n'));
    c.push(Buffer.alloc(0));
    assert.equal(c.text(), 'ab\n');
    assert.equal(c.total, 3);
  });
});

describe('HeadTailCapture over the cap', () => {
  it('keeps whole head lines, a marker, and whole tail lines', () => {
    // head = "line01\nlin", tail = "05\nline06\n": both cut mid-line
    const c = capture(10, 10, numberedLines(6));
    assert.equal(c.total, 42);
    assert.equal(c.droppedBytes, 22);
    // the marker counts every byte not shown: the 22 never kept plus the cut partial lines
    assert.equal(c.text(), `line01\n${marker(28)}line06\n`);
  });

  it('puts the marker on a line of its own', () => {
    const c = capture(10, 10, numberedLines(6));
    const lines = c.text().split('\n');
    assert.ok(lines.includes(marker(28).trimEnd()));
  });

  it('counts dropped bytes exactly for many sizes', () => {
    const text = consoleText(300);
    const total = Buffer.byteLength(text);
    for (const [h, t] of [[100, 100], [1, 1], [1000, 50], [50, 1000], [4096, 4096]] as const) {
      const c = capture(h, t, text);
      assert.equal(c.total, total);
      assert.equal(c.droppedBytes, Math.max(0, total - h - t), `${h}/${t}`);
      const [kept, shownDropped] = splitMarker(c.text());
      assert.equal(shownDropped, total - Buffer.byteLength(kept), `${h}/${t}: the marker counts every byte not shown`);
    }
  });

  it('reports droppedBytes exactly while the stream is still coming', () => {
    const c = new HeadTailCapture(300, 200);
    const text = Buffer.from(consoleText(100));
    const sizes = chunkSizes(7, 97);
    for (let i = 0; i < text.length; ) {
      const n = sizes.next().value as number;
      c.push(text.subarray(i, i + n));
      i = Math.min(text.length, i + n);
      assert.equal(c.droppedBytes, Math.max(0, i - 500));
    }
  });

  it('keeps the head from the start and the tail from the end of the stream', () => {
    const text = consoleText(500);
    const out = capture(2000, 2000, text).text();
    const [head, tail] = out.split(/\[kgrader: \d+ bytes of console output dropped here\]\n/);
    assert.ok(head !== undefined && tail !== undefined);
    assert.ok(text.startsWith(head));
    assert.ok(text.endsWith(tail));
    assert.ok(head.endsWith('\n'));
    assert.ok(tail.endsWith('\n'));
    assert.ok(Buffer.byteLength(head) <= 2000 && Buffer.byteLength(head) > 2000 - 120);
    assert.ok(Buffer.byteLength(tail) <= 2000 && Buffer.byteLength(tail) > 2000 - 120);
    // every kept line is a whole line of the input
    const inputLines = new Set(text.split('\n'));
    for (const line of [...head.split('\n'), ...tail.split('\n')]) assert.ok(inputLines.has(line), line);
  });

  it('gives the same text for one push, byte-by-byte pushes and random chunks', () => {
    const text = consoleText(400);
    const one = capture(1500, 1200, text, 'one');
    const bytes = capture(1500, 1200, text, 'bytes');
    const random = capture(1500, 1200, text, 'random');
    assert.equal(bytes.text(), one.text());
    assert.equal(random.text(), one.text());
    assert.equal(bytes.droppedBytes, one.droppedBytes);
    assert.equal(random.droppedBytes, one.droppedBytes);
    assert.equal(bytes.total, one.total);
  });

  it('gives the same text when text() is called twice and after more pushes', () => {
    const c = capture(20, 20, numberedLines(10));
    const first = c.text();
    assert.equal(c.text(), first);
    c.push(Buffer.from('line11\nline12\n'));
    assert.equal(c.text(), capture(20, 20, numberedLines(12)).text());
  });

  it('never splits a multi-byte character', () => {
    const text = 'αβγ\n'.repeat(10); // 7 bytes a line
    const c = capture(10, 9, text);
    assert.equal(c.droppedBytes, 70 - 19);
    const out = c.text();
    assert.ok(!out.includes('\uFFFD'), JSON.stringify(out));
    assert.equal(out, `αβγ\n${marker(70 - 14)}αβγ\n`);
  });

  it('keeps only the tail with a zero-byte head', () => {
    const c = capture(0, 10, numberedLines(6));
    assert.equal(c.droppedBytes, 32);
    assert.equal(c.text(), `${marker(42 - 7)}line06\n`);
  });

  it('bounds the memory of a flood', () => {
    const c = new HeadTailCapture(1024, 1024);
    const chunk = Buffer.from(`${'A'.repeat(99)}\n`);
    for (let i = 0; i < 20_000; i++) c.push(chunk);
    assert.equal(c.total, 2_000_000);
    assert.equal(c.droppedBytes, 2_000_000 - 2048);
    const out = c.text();
    assert.ok(Buffer.byteLength(out) <= 2048 + marker(c.droppedBytes).length);
  });

  it(
    'keeps the first tail line whole when the cut falls exactly on a line start',
    () => {
      // head = "line01\n" (7 bytes), tail = "line06\n" (7 bytes): both whole lines
      const c = capture(7, 7, numberedLines(6));
      assert.equal(c.text(), `line01\n${marker(28)}line06\n`);
    },
  );
});
