// A program built by Debian's rustc for wasm32-wasi, nothing of shadowfence in it:
// argv[1] picks the planted bug; without one it runs clean.
use std::alloc::{alloc, dealloc, Layout};
#[inline(never)]
fn make_buffer(n: usize) -> *mut u8 { unsafe { alloc(Layout::from_size_align(n, 1).unwrap()) } }
#[inline(never)]
fn write_past_end(p: *mut u8, n: usize) { unsafe { std::ptr::write_volatile(p.add(n), b'x'); } }
#[inline(never)]
fn read_after_free() -> u8 { unsafe { let p = make_buffer(32); *p.add(4) = 7; dealloc(p, Layout::from_size_align(32, 1).unwrap()); std::ptr::read_volatile(p.add(4)) } }
#[inline(never)]
fn free_twice() { unsafe { let p = make_buffer(24); let l = Layout::from_size_align(24, 1).unwrap(); dealloc(p, l); dealloc(p, l); } }
fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "clean".to_string());
    let b = make_buffer(16);
    match what.as_str() {
        "overflow" => write_past_end(b, 16),
        "uaf" => println!("{}", read_after_free()),
        "double" => free_twice(),
        _ => {}
    }
    let v: Vec<u32> = (0..100).collect();
    println!("ok {}", v.iter().sum::<u32>());
    unsafe { dealloc(b, Layout::from_size_align(16, 1).unwrap()); }
}
