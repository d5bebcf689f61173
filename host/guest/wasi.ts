// WASI preview1 for guests: a small subset that runs anywhere (browsers, and
// Node when the caller wants stdout/stderr captured), and a guard around any
// implementation (node:wasi included) that checks every pointer a syscall
// writes through, as copy_to_user() checks user pointers: a guest cannot make
// a syscall write into the engine's tables.
import * as abi from "../../abi/abi.js";

export const ERRNO_SUCCESS = 0;
export const ERRNO_BADF = 8;
export const ERRNO_FAULT = abi.WASI_ERRNO_FAULT;
export const ERRNO_INVAL = abi.WASI_ERRNO_INVAL;
export const ERRNO_NOSYS = 52;
export const ERRNO_SPIPE = 70;

/**
 * WASI preview1's functions and their wasm signatures (i: i32, I: i64; every
 * one returns an errno, proc_exit nothing): a guest importing one under
 * another type would make the implementation misread its arguments.
 */
export const WASI_PREVIEW1: Record<string, string> = {
  args_get: "ii", args_sizes_get: "ii", environ_get: "ii", environ_sizes_get: "ii", clock_res_get: "ii",
  clock_time_get: "iIi", fd_advise: "iIIi", fd_allocate: "iII", fd_close: "i", fd_datasync: "i", fd_fdstat_get: "ii",
  fd_fdstat_set_flags: "ii", fd_fdstat_set_rights: "iII", fd_filestat_get: "ii", fd_filestat_set_size: "iI",
  fd_filestat_set_times: "iIIi", fd_pread: "iiiIi", fd_prestat_get: "ii", fd_prestat_dir_name: "iii", fd_pwrite: "iiiIi",
  fd_read: "iiii", fd_readdir: "iiiIi", fd_renumber: "ii", fd_seek: "iIii", fd_sync: "i", fd_tell: "ii", fd_write: "iiii",
  path_create_directory: "iii", path_filestat_get: "iiiii", path_filestat_set_times: "iiiiIIi", path_link: "iiiiiii",
  path_open: "iiiiiIIii", path_readlink: "iiiiii", path_remove_directory: "iii", path_rename: "iiiiii",
  path_symlink: "iiiii", path_unlink_file: "iii", poll_oneoff: "iiii", proc_exit: "i", proc_raise: "i", sched_yield: "",
  random_get: "ii", sock_accept: "iii", sock_recv: "iiiiii", sock_send: "iiiii", sock_shutdown: "ii",
};

/** The signature string of a preview1 function as WasmModule types spell it. */
export function wasiSignature(name: string): string | undefined {
  const p = WASI_PREVIEW1[name];
  if (p === undefined) return undefined;
  const params = [...p].map((c) => (c === "I" ? "i64" : "i32")).join(" ");
  return `${params}${params ? " " : ""}->${name === "proc_exit" ? "" : " i32"}`;
}

/** Thrown by proc_exit to unwind the guest. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`exit(${code})`);
    this.name = "WasiExit";
  }
}

export type WasiFunction = (...args: Array<number | bigint>) => number | void;
export type WasiImports = Record<string, WasiFunction>;

export interface WasiSubsetOptions {
  args: string[];
  env: Record<string, string>;
  stdin: Uint8Array;
  stdout: (chunk: Uint8Array) => void;
  stderr: (chunk: Uint8Array) => void;
  memory: () => WebAssembly.Memory;
  now?: () => bigint;
  random?: (buf: Uint8Array) => void;
}

function encodeList(items: string[]): Uint8Array[] {
  const enc = new TextEncoder();
  return items.map((s) => enc.encode(s + "\0"));
}

export function listSizes(items: string[]): { count: number; bytes: number } {
  return { count: items.length, bytes: encodeList(items).reduce((n, b) => n + b.length, 0) };
}

/** The preview1 functions a C program linked with wasi-libc needs; ENOSYS for the rest. */
export function wasiSubset(o: WasiSubsetOptions): WasiImports {
  const args = encodeList(o.args);
  const env = encodeList(Object.entries(o.env).map(([k, v]) => `${k}=${v}`));
  let stdinPos = 0;
  const dv = () => new DataView(o.memory().buffer);
  const u8 = () => new Uint8Array(o.memory().buffer);
  const now = o.now ?? (() => BigInt(Math.round(performance.now() * 1e6)));
  const realNow = () => BigInt(Date.now()) * 1000000n;
  const putList = (list: Uint8Array[], ptrs: number, buf: number) => {
    const v = dv(), m = u8();
    let at = buf >>> 0;
    list.forEach((b, i) => {
      v.setUint32((ptrs >>> 0) + i * 4, at, true);
      m.set(b, at);
      at += b.length;
    });
    return ERRNO_SUCCESS;
  };
  const sizes = (list: Uint8Array[], countPtr: number, bytesPtr: number) => {
    const v = dv();
    v.setUint32(countPtr >>> 0, list.length, true);
    v.setUint32(bytesPtr >>> 0, list.reduce((n, b) => n + b.length, 0), true);
    return ERRNO_SUCCESS;
  };
  const iovs = (ptr: number, n: number) => {
    const v = dv();
    const out: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) out.push([v.getUint32((ptr >>> 0) + i * 8, true), v.getUint32((ptr >>> 0) + i * 8 + 4, true)]);
    return out;
  };
  const fns: WasiImports = {
    args_sizes_get: (c, b) => sizes(args, Number(c), Number(b)),
    args_get: (p, b) => putList(args, Number(p), Number(b)),
    environ_sizes_get: (c, b) => sizes(env, Number(c), Number(b)),
    environ_get: (p, b) => putList(env, Number(p), Number(b)),
    clock_res_get: (_id, out) => { dv().setBigUint64(Number(out) >>> 0, 1000n, true); return ERRNO_SUCCESS; },
    clock_time_get: (id, _prec, out) => {
      const t = Number(id) === 0 ? realNow() : now();
      dv().setBigUint64(Number(out) >>> 0, t, true);
      return ERRNO_SUCCESS;
    },
    fd_write: (fd, iov, n, out) => {
      const f = Number(fd);
      if (f !== 1 && f !== 2) return ERRNO_BADF;
      let total = 0;
      for (const [buf, len] of iovs(Number(iov), Number(n))) {
        const chunk = u8().slice(buf, buf + len);
        (f === 1 ? o.stdout : o.stderr)(chunk);
        total += len;
      }
      dv().setUint32(Number(out) >>> 0, total, true);
      return ERRNO_SUCCESS;
    },
    fd_read: (fd, iov, n, out) => {
      if (Number(fd) !== 0) return ERRNO_BADF;
      let total = 0;
      for (const [buf, len] of iovs(Number(iov), Number(n))) {
        const take = Math.min(len, o.stdin.length - stdinPos);
        u8().set(o.stdin.subarray(stdinPos, stdinPos + take), buf);
        stdinPos += take;
        total += take;
        if (take < len) break;
      }
      dv().setUint32(Number(out) >>> 0, total, true);
      return ERRNO_SUCCESS;
    },
    fd_close: (fd) => (Number(fd) <= 2 ? ERRNO_SUCCESS : ERRNO_BADF),
    fd_seek: (fd) => (Number(fd) <= 2 ? ERRNO_SPIPE : ERRNO_BADF),
    fd_fdstat_get: (fd, out) => {
      if (Number(fd) > 2) return ERRNO_BADF;
      const v = dv(), p = Number(out) >>> 0;
      v.setUint8(p, 2);                          // character device
      v.setUint16(p + 2, 0, true);
      v.setBigUint64(p + 8, Number(fd) === 0 ? 0x2n : 0x40n, true);   // fd_read / fd_write
      v.setBigUint64(p + 16, 0n, true);
      return ERRNO_SUCCESS;
    },
    fd_fdstat_set_flags: (fd) => (Number(fd) <= 2 ? ERRNO_SUCCESS : ERRNO_BADF),
    fd_prestat_get: () => ERRNO_BADF,
    fd_prestat_dir_name: () => ERRNO_BADF,
    random_get: (buf, len) => {
      const b = u8().subarray(Number(buf) >>> 0, (Number(buf) >>> 0) + (Number(len) >>> 0));
      if (o.random) o.random(b);
      else globalThis.crypto.getRandomValues(b);
      return ERRNO_SUCCESS;
    },
    sched_yield: () => ERRNO_SUCCESS,
    proc_exit: (code) => { throw new WasiExit(Number(code) >>> 0); },
  };
  return fns;
}

// ── pointer guard ────────────────────────────────────────────────────────────
type Ranges = (a: number[], mem: DataView) => Array<[number, number]>;
const IOVS = (mem: DataView, ptr: number, n: number): Array<[number, number]> => {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) out.push([mem.getUint32(ptr + i * 8, true), mem.getUint32(ptr + i * 8 + 4, true)]);
  return out;
};

/** For each preview1 function: the guest memory ranges it writes. */
function outputs(sizes: { args: { count: number; bytes: number }; env: { count: number; bytes: number } }): Record<string, Ranges> {
  return {
    args_sizes_get: (a) => [[a[0], 4], [a[1], 4]],
    args_get: (a) => [[a[0], sizes.args.count * 4], [a[1], sizes.args.bytes]],
    environ_sizes_get: (a) => [[a[0], 4], [a[1], 4]],
    environ_get: (a) => [[a[0], sizes.env.count * 4], [a[1], sizes.env.bytes]],
    clock_res_get: (a) => [[a[1], 8]],
    clock_time_get: (a) => [[a[2], 8]],
    fd_write: (a) => [[a[3], 4]],
    fd_pwrite: (a) => [[a[4], 4]],
    fd_read: (a, m) => [...IOVS(m, a[1], a[2]), [a[3], 4]],
    fd_pread: (a, m) => [...IOVS(m, a[1], a[2]), [a[4], 4]],
    fd_seek: (a) => [[a[3], 8]],
    fd_tell: (a) => [[a[1], 8]],
    fd_fdstat_get: (a) => [[a[1], 24]],
    fd_filestat_get: (a) => [[a[1], 64]],
    fd_prestat_get: (a) => [[a[1], 8]],
    fd_prestat_dir_name: (a) => [[a[1], a[2]]],
    fd_readdir: (a) => [[a[1], a[2]], [a[4], 4]],
    path_open: (a) => [[a[8], 4]],
    path_filestat_get: (a) => [[a[4], 64]],
    path_readlink: (a) => [[a[3], a[4]], [a[5], 4]],
    random_get: (a) => [[a[0], a[1]]],
    poll_oneoff: (a) => [[a[1], a[2] * 32], [a[3], 4]],
    fd_close: () => [], fd_sync: () => [], fd_datasync: () => [], fd_fdstat_set_flags: () => [], fd_advise: () => [],
    fd_allocate: () => [], fd_renumber: () => [], fd_filestat_set_size: () => [], fd_filestat_set_times: () => [],
    path_create_directory: () => [], path_remove_directory: () => [], path_unlink_file: () => [], path_rename: () => [],
    path_symlink: () => [], path_link: () => [], path_filestat_set_times: () => [], proc_exit: () => [], sched_yield: () => [],
    proc_raise: () => [],
  };
}

/**
 * Wrap WASI functions so a call whose output pointers leave the guest's own
 * memory fails with EFAULT instead of writing there. Functions the table
 * does not know (sockets) answer ENOSYS.
 */
export function guardWasi(fns: WasiImports, names: string[], memory: () => WebAssembly.Memory,
  writable: (p: number, n: number) => boolean, sizes: { args: string[]; env: Record<string, string> }): WasiImports {
  const table = outputs({ args: listSizes(sizes.args), env: listSizes(Object.entries(sizes.env).map(([k, v]) => `${k}=${v}`)) });
  const out: WasiImports = {};
  for (const name of names) {
    const impl = fns[name];
    const ranges = table[name];
    if (!impl || !ranges) {
      out[name] = () => ERRNO_NOSYS;
      continue;
    }
    out[name] = (...a: Array<number | bigint>) => {
      const nums = a.map((x) => (typeof x === "bigint" ? 0 : x >>> 0));
      let rs: Array<[number, number]>;
      try {
        rs = ranges(nums, new DataView(memory().buffer));
      } catch {
        return ERRNO_FAULT;
      }
      for (const [p, n] of rs) if (n > 0 && !writable(p >>> 0, n >>> 0)) return ERRNO_FAULT;
      return impl(...a);
    };
  }
  return out;
}
