// Bounded host-side logs: the kernel's printk ring (log_buf_len) and the list
// of retained report objects. Both drop their oldest entries and count what
// they dropped, so a run with millions of reports keeps bounded memory and
// still says what it lost.

/** A FIFO that drops from the front without shifting (amortised O(1)). */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  /** Entries ever pushed, and dropped from the front: entry number i (from 0) is retained iff i >= dropped. */
  pushed = 0;
  dropped = 0;

  get length(): number { return this.items.length - this.head; }
  push(x: T): void {
    this.items.push(x);
    this.pushed++;
  }
  first(): T { return this.items[this.head]; }
  shift(): T {
    const x = this.items[this.head];
    this.items[this.head++] = undefined as unknown as T;
    this.dropped++;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  /** Retained entries whose absolute index is >= from, oldest first. */
  since(from: number): T[] {
    return this.items.slice(this.head + Math.max(0, from - this.dropped));
  }
  map<U>(f: (x: T) => U): U[] {
    const out: U[] = new Array(this.length);
    for (let i = this.head, j = 0; i < this.items.length; i++, j++) out[j] = f(this.items[i]);
    return out;
  }
}

/** The console's notice for records a reader missed (printk.c). */
export function droppedNotice(n: number): string {
  return `** ${n} printk messages dropped **`;
}

/**
 * The kernel log as a ring of `size` bytes (log_buf_len). A record costs the
 * bytes a reader gets: its prefix (the timestamp), its text and the newline;
 * the ring also holds at most size/32 records (the kernel sizes its
 * descriptor ring with PRB_AVGBITS = 5). The oldest records go first; dmesg
 * starts with the dropped-messages notice, counted in the budget too, so the
 * text a reader gets never exceeds `size`.
 */
export class PrintkRing {
  private readonly records = new Fifo<{ ns: bigint; text: string; cost: number }>();
  private bytes = 0;
  readonly maxRecords: number;

  constructor(readonly size: number, private readonly prefix: (ns: bigint) => string) {
    this.maxRecords = Math.max(1, size >>> 5);
  }

  get dropped(): number { return this.records.dropped; }
  get retained(): number { return this.records.length; }
  get used(): number { return this.bytes; }

  push(ns: bigint, text: string): void {
    this.add(ns, text, this.prefix(ns).length);
  }
  /** Lines printed at one time (a report): the prefix is formatted once. */
  pushLines(ns: bigint, lines: readonly string[]): void {
    const plen = this.prefix(ns).length;
    for (const text of lines) this.add(ns, text, plen);
  }
  private add(ns: bigint, text: string, prefixLen: number): void {
    const cost = prefixLen + text.length + 1;
    this.records.push({ ns, text, cost });
    this.bytes += cost;
    while (this.records.length > 0 && (this.records.length > this.maxRecords ||
           this.bytes + (this.records.dropped ? droppedNotice(this.records.dropped).length + 1 : 0) > this.size)) {
      this.bytes -= this.records.shift().cost;
    }
  }

  text(): string {
    const lines = this.records.map((r) => this.prefix(r.ns) + r.text);
    if (this.records.dropped) lines.unshift(droppedNotice(this.records.dropped));
    return lines.length ? lines.join("\n") + "\n" : "";
  }
}
