/*
 * {{name}}: a Proxy-Wasm filter (ABI 0.2.1) in plain C, no SDK. Made by `wasmgate init --lang c`.
 *
 * Adds `x-{{name}}: <plugin configuration>` to every response ("hello" when the configuration is
 * empty) and logs each request path at INFO.
 *
 * Build and package:  wasmgate build . -t localhost:5000/{{name}}:v1
 * (clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--strip-debug -o build/{{name}}.wasm filter.c)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

/* The root ids this module serves, as a custom section that `wasmgate build` records in the image config. */
__asm__(".section .custom_section.proxy_wasm_root_ids,\"\",@\n"
        ".ascii \"[\\\"{{name}}\\\"]\"\n");

IMPORT(proxy_log) uint32_t proxy_log(uint32_t level, const char *msg, size_t len);
IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t type, size_t start, size_t max, char **out, size_t *out_len);
IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const char *key, size_t key_len, char **out, size_t *out_len);
IMPORT(proxy_add_header_map_value)
uint32_t proxy_add_header_map_value(uint32_t map, const char *key, size_t key_len, const char *value, size_t value_len);

enum { LOG_INFO = 2 };
enum { REQUEST_HEADERS = 0, RESPONSE_HEADERS = 2 };
enum { PLUGIN_CONFIGURATION = 7 };

static char *value;
static size_t value_len;

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}
EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) { return malloc(size); }
EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) { (void)id; (void)parent; }
EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t id) { (void)id; return 1; }
EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t id) { (void)id; }

EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root_id, size_t size) {
  (void)root_id;
  free(value);
  value = NULL;
  value_len = 0;
  if (size > 0 && proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, size, &value, &value_len) != 0) return 0;
  return 1;
}

EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t id, uint32_t n, uint32_t eos) {
  (void)id; (void)n; (void)eos;
  char *path = NULL;
  size_t len = 0;
  if (proxy_get_header_map_value(REQUEST_HEADERS, ":path", 5, &path, &len) == 0) {
    char msg[256] = "{{name}}: request to ";
    size_t prefix = strlen(msg);
    size_t copy = len < sizeof msg - prefix - 1 ? len : sizeof msg - prefix - 1;
    memcpy(msg + prefix, path, copy);
    proxy_log(LOG_INFO, msg, prefix + copy);
    free(path);
  }
  return 0;
}

EXPORT(proxy_on_response_headers) uint32_t proxy_on_response_headers(uint32_t id, uint32_t n, uint32_t eos) {
  (void)id; (void)n; (void)eos;
  static const char name[] = "x-{{name}}";
  if (value_len > 0) proxy_add_header_map_value(RESPONSE_HEADERS, name, sizeof name - 1, value, value_len);
  else proxy_add_header_map_value(RESPONSE_HEADERS, name, sizeof name - 1, "hello", 5);
  return 0;
}
