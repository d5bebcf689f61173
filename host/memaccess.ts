// The checked memory API (engine.load(), store(), readBytes(), writeBytes(),
// memset(), memcpy(), memmove(), kasan_check_read/write()): argument checks and
// the core's checked accesses, each one kernel call; and the unchecked readers
// reports use (peek, readCString). The Engine's methods of the same names delegate here.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import { sizeArg, addrArg, numArg, intArg, U64_MAX } from "./args.js";

// readBytes/writeBytes move data through the host buffer in chunks of this size
const BYTES_CHUNK = abi.HOST_BUF_BYTES_SIZE;
// the most bytes one readBytes/writeBytes call moves
const MAX_BYTES = 1 << 26;

/** What the checked memory API uses of the engine (the Engine provides it). */
export interface MemAccessEngine {
  readonly exports: CoreExports;
  kernelCall<T>(capture: boolean, fn: () => T): T;
  u8view(): Uint8Array;
}

export class MemAccess {
  constructor(private readonly e: MemAccessEngine) {}

  load(addr: bigint | number, size: number): number | bigint | Uint8Array {
    const a = addrArg("load", "addr", addr);
    if (![1, 2, 4, 8, 16].includes(size)) throw new RangeError(`load: size must be 1, 2, 4, 8 or 16 (N bytes: readBytes), got ${size}`);
    const x = this.e.exports;
    return this.e.kernelCall(false, () => {
      switch (size) {
        case 1: return x.mem_load1(a) >>> 0;
        case 2: return x.mem_load2(a) >>> 0;
        case 4: return x.mem_load4(a) >>> 0;
        case 8: return BigInt.asUintN(64, x.mem_load8(a));
        case 16: {
          x.mem_load16(a);
          return this.e.u8view().slice(x.scratch_base() + abi.SCRATCH_LOAD16, x.scratch_base() + abi.SCRATCH_LOAD16 + 16);
        }
      }
      throw new RangeError(`load: size must be 1, 2, 4, 8 or 16 (N bytes: readBytes), got ${size}`);
    });
  }

  store(addr: bigint | number, size: number, value: number | bigint | Uint8Array): void {
    const a = addrArg("store", "addr", addr);
    const x = this.e.exports;
    if (![1, 2, 4, 8, 16].includes(size)) throw new RangeError(`store: size must be 1, 2, 4, 8 or 16 (N bytes: writeBytes), got ${size}`);
    let v = 0n;
    if (size === 16) {
      if (!(value instanceof Uint8Array) || value.length !== 16) throw new TypeError("store: a 16-byte store takes a Uint8Array of 16 bytes");
    } else {
      // an N-byte value, signed or unsigned: nothing is cut to fit
      const bits = BigInt(size * 8);
      v = intArg("store", "value", value, -(1n << (bits - 1n)), (1n << bits) - 1n);
    }
    this.e.kernelCall(false, () => {
      if (size === 16) this.e.u8view().set(value as Uint8Array, x.scratch_base() + abi.SCRATCH_STORE16);
      switch (size) {
        case 1: x.mem_store1(a, Number(BigInt.asUintN(8, v))); break;
        case 2: x.mem_store2(a, Number(BigInt.asUintN(16, v))); break;
        case 4: x.mem_store4(a, Number(BigInt.asUintN(32, v)) | 0); break;
        case 8: x.mem_store8(a, BigInt.asIntN(64, v)); break;
        case 16: x.mem_store16(a); break;
      }
    });
  }

  readBytes(addr: bigint | number, len: number): Uint8Array {
    const a = addrArg("readBytes", "addr", addr);
    len = numArg("readBytes", "len", len, 0, MAX_BYTES);
    const out = new Uint8Array(len);
    const x = this.e.exports;
    const buf = x.host_buf() + abi.HOST_BUF_BYTES;
    this.e.kernelCall(false, () => {
      // one check over the whole range, as instrumented kernel code does, then the copy
      if (x.kasan_check_range(a, BigInt(len), 0, abi.PATH_CHECK_RANGE) < 0) return;
      for (let off = 0; off < len; off += BYTES_CHUNK) {
        const n = Math.min(BYTES_CHUNK, len - off);
        if (!x.mem_copy_out(a + BigInt(off), buf, BigInt(n))) break;
        out.set(this.e.u8view().subarray(buf, buf + n), off);
      }
    });
    return out;
  }

  writeBytes(addr: bigint | number, bytes: Uint8Array | number[]): void {
    const a = addrArg("writeBytes", "addr", addr);
    if (!(bytes instanceof Uint8Array) && !Array.isArray(bytes)) throw new TypeError("writeBytes: bytes must be a Uint8Array or an array of numbers 0..255");
    if (Array.isArray(bytes)) bytes.forEach((b, i) => numArg("writeBytes", `bytes[${i}]`, b, 0, 255));
    if (bytes.length > MAX_BYTES) throw new RangeError(`writeBytes: at most ${MAX_BYTES} bytes a call, got ${bytes.length}`);
    const data = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    const x = this.e.exports;
    const buf = x.host_buf() + abi.HOST_BUF_BYTES;
    this.e.kernelCall(false, () => {
      if (x.kasan_check_range(a, BigInt(data.length), 1, abi.PATH_CHECK_RANGE) < 0) return;
      for (let off = 0; off < data.length; off += BYTES_CHUNK) {
        const n = Math.min(BYTES_CHUNK, data.length - off);
        this.e.u8view().set(data.subarray(off, off + n), buf);
        if (!x.mem_copy_in(a + BigInt(off), buf, BigInt(n))) break;
      }
    });
  }

  memset(addr: bigint | number, byte: number, len: number | bigint): boolean {
    const a = addrArg("memset", "addr", addr);
    // memset's int c is stored as an unsigned char
    const c = numArg("memset", "byte", byte, -128, 255) & 0xff;
    const n = sizeArg("memset", "len", len);
    return this.e.kernelCall(false, () => this.e.exports.mem_memset(a, c, n)) === 1;
  }

  memcpy(dst: bigint | number, src: bigint | number, len: number | bigint): boolean {
    const d = addrArg("memcpy", "dst", dst), s = addrArg("memcpy", "src", src);
    const n = sizeArg("memcpy", "len", len);
    return this.e.kernelCall(false, () => this.e.exports.mem_memcpy(d, s, n)) === 1;
  }

  memmove(dst: bigint | number, src: bigint | number, len: number | bigint): boolean {
    const d = addrArg("memmove", "dst", dst), s = addrArg("memmove", "src", src);
    const n = sizeArg("memmove", "len", len);
    return this.e.kernelCall(false, () => this.e.exports.mem_memmove(d, s, n)) === 1;
  }

  kasan_check_read(addr: bigint | number, len: number | bigint): boolean {
    const a = addrArg("kasan_check_read", "addr", addr);
    const n = sizeArg("kasan_check_read", "size", len);
    return this.e.kernelCall(false, () => this.e.exports.kasan_check_range(a, n, 0, abi.PATH_CHECK_RANGE)) === 1;
  }

  kasan_check_write(addr: bigint | number, len: number | bigint): boolean {
    const a = addrArg("kasan_check_write", "addr", addr);
    const n = sizeArg("kasan_check_write", "size", len);
    return this.e.kernelCall(false, () => this.e.exports.kasan_check_range(a, n, 1, abi.PATH_CHECK_RANGE)) === 1;
  }

  /** Raw bytes read through the page tables without KASAN; undefined where unmapped. */
  peek(va: bigint, n: number): Uint8Array | undefined {
    addrArg("peek", "va", va);
    numArg("peek", "n", n, 0, 1 << 20);
    if (va + BigInt(n) > U64_MAX + 1n) return undefined;      // runs off the address space: nothing is mapped there
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const lin = this.e.exports.translate_lin(va + BigInt(i));
      if (!lin) return undefined;
      out[i] = this.e.u8view()[lin];
    }
    return out;
  }

  /** A C string of at most 256 bytes, read without checks (report helpers); undefined for NULL or unmapped. */
  readCString(va: bigint): string | undefined {
    if (va === 0n) return undefined;
    if (addrArg("readCString", "va", va) > U64_MAX - 256n) return undefined;
    const bytes: number[] = [];
    for (let i = 0n; i < 256n; i++) {
      const lin = this.e.exports.translate_lin(va + i);
      if (!lin) return undefined;
      const b = this.e.u8view()[lin];
      if (b === 0) break;
      bytes.push(b);
    }
    return String.fromCharCode(...bytes);
  }
}
