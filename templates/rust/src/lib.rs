//! {{name}}: a Proxy-Wasm filter (ABI 0.2.1) in Rust against the raw ABI, no crates. Made by
//! `wasmgate init --lang rust`.
//!
//! Adds `x-{{name}}: <plugin configuration>` to every response ("hello" when the configuration is
//! empty).
//!
//! Build and package:  wasmgate build . -t localhost:5000/{{name}}:v1
//! (rustc --target wasm32-wasi --crate-type cdylib --edition 2021 -O -o build/{{name}}.wasm src/lib.rs)

use std::ptr::null_mut;

/// The root ids this module serves, recorded in its image config by `wasmgate build`.
#[link_section = "proxy_wasm_root_ids"]
#[used]
static ROOT_IDS: [u8; {{rootIdsLen}}] = *b"[\"{{name}}\"]";

const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const MAP_HTTP_RESPONSE_HEADERS: u32 = 2;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_buffer_bytes(buffer_type: u32, start: usize, max_size: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_add_header_map_value(map_type: u32, key: *const u8, key_size: usize, value: *const u8, value_size: usize) -> u32;
}

static mut VALUE: Vec<u8> = Vec::new();

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut v: Vec<u8> = Vec::with_capacity(size.max(1));
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_id: u32, _parent: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_done(_id: u32) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root_id: u32, size: usize) -> u32 {
    let mut data: *mut u8 = null_mut();
    let mut len: usize = 0;
    let value = if size > 0 && unsafe { proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, &mut data, &mut len) } == 0 && !data.is_null() {
        unsafe { Vec::from_raw_parts(data, len, len) }
    } else {
        Vec::new()
    };
    unsafe { VALUE = value };
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_id: u32, _n: usize, _eos: u32) -> u32 {
    let name = b"x-{{name}}";
    let value: &[u8] = unsafe {
        let v = &*std::ptr::addr_of!(VALUE);
        if v.is_empty() { b"hello" } else { v.as_slice() }
    };
    unsafe { proxy_add_header_map_value(MAP_HTTP_RESPONSE_HEADERS, name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
    0
}
