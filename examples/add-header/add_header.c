/*
 * add-header: a Proxy-Wasm filter (ABI 0.2.1) in plain C, no SDK.
 *
 * Its plugin configuration is a flat JSON object of header names to values, e.g.
 *   {"x-hello": "from wasmgate"}
 * Each pair is added to every response; the request gets `x-wasmgate-filter: add-header`, and the
 * request path is logged at INFO. Runs unchanged in wasmgate, Envoy and Istio.
 *
 * Build: clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--strip-debug -o add_header.wasm add_header.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) uint32_t proxy_log(uint32_t level, const char *msg, size_t len);
IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t type, size_t start, size_t max, char **out, size_t *out_len);
IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const char *key, size_t key_len, char **out, size_t *out_len);
IMPORT(proxy_add_header_map_value)
uint32_t proxy_add_header_map_value(uint32_t map, const char *key, size_t key_len, const char *value, size_t value_len);

enum { LOG_INFO = 2, LOG_ERROR = 4 };
enum { REQUEST_HEADERS = 0, RESPONSE_HEADERS = 2 };
enum { PLUGIN_CONFIGURATION = 7 };
enum { MAX_HEADERS = 16 };

struct pair { char *name; char *value; };
static struct pair headers[MAX_HEADERS];
static int header_count;

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}
EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) { return malloc(size); }
EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) { (void)id; (void)parent; }
EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t id) { (void)id; return 1; }
EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t id) { (void)id; }

static void log_str(uint32_t level, const char *s) { proxy_log(level, s, strlen(s)); }

/* Reads a JSON string starting at *p (just after the opening quote); returns a malloc'ed copy. */
static char *json_string(const char **p, const char *end) {
  char *out = malloc((size_t)(end - *p) + 1);
  size_t n = 0;
  while (*p < end && **p != '"') {
    char c = *(*p)++;
    if (c == '\\' && *p < end) {
      c = *(*p)++;
      if (c == 'n') c = '\n';
      else if (c == 't') c = '\t';
    }
    out[n++] = c;
  }
  if (*p >= end) { free(out); return NULL; }
  (*p)++; /* closing quote */
  out[n] = 0;
  return out;
}

static void skip_ws(const char **p, const char *end) {
  while (*p < end && (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t')) (*p)++;
}

/* Parses {"name": "value", ...}; returns 0 on malformed input. */
static int parse_config(const char *p, const char *end) {
  skip_ws(&p, end);
  if (p == end) return 1; /* no configuration: nothing to add */
  if (*p++ != '{') return 0;
  for (;;) {
    skip_ws(&p, end);
    if (p < end && *p == '}') return 1;
    if (p >= end || *p++ != '"') return 0;
    char *name = json_string(&p, end);
    skip_ws(&p, end);
    if (!name || p >= end || *p++ != ':') return 0;
    skip_ws(&p, end);
    if (p >= end || *p++ != '"') return 0;
    char *value = json_string(&p, end);
    if (!value || header_count == MAX_HEADERS) return 0;
    headers[header_count++] = (struct pair){name, value};
    skip_ws(&p, end);
    if (p < end && *p == ',') p++;
  }
}

EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root_id, size_t size) {
  (void)root_id;
  char *config = NULL;
  size_t len = 0;
  if (size > 0 && proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, size, &config, &len) != 0) return 0;
  header_count = 0;
  int ok = parse_config(config ? config : "", (config ? config : "") + len);
  free(config);
  if (!ok) log_str(LOG_ERROR, "add-header: the configuration must be a JSON object of strings");
  return ok;
}

EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t id, uint32_t n, uint32_t eos) {
  (void)id; (void)n; (void)eos;
  char *path = NULL;
  size_t len = 0;
  if (proxy_get_header_map_value(REQUEST_HEADERS, ":path", 5, &path, &len) == 0) {
    char msg[256] = "add-header: request to ";
    size_t prefix = strlen(msg);
    size_t copy = len < sizeof msg - prefix - 1 ? len : sizeof msg - prefix - 1;
    memcpy(msg + prefix, path, copy);
    msg[prefix + copy] = 0;
    log_str(LOG_INFO, msg);
    free(path);
  }
  proxy_add_header_map_value(REQUEST_HEADERS, "x-wasmgate-filter", 17, "add-header", 10);
  return 0;
}

EXPORT(proxy_on_response_headers) uint32_t proxy_on_response_headers(uint32_t id, uint32_t n, uint32_t eos) {
  (void)id; (void)n; (void)eos;
  for (int i = 0; i < header_count; i++) {
    proxy_add_header_map_value(RESPONSE_HEADERS, headers[i].name, strlen(headers[i].name), headers[i].value,
                               strlen(headers[i].value));
  }
  return 0;
}
