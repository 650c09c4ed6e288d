// What an HTTP field (header or trailer) may hold, as Node's own http module checks it (RFC 9110 §5): one
// definition for the upstream client, its parser, and the proxy's answers, so all refuse the same things.

/** A field name (and a method) is a token. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A field value holds no control character but tab (no NUL, CR or LF: nothing that could split a message). */
export const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export function validFieldName(name: string): boolean {
  return TOKEN.test(name);
}

export function validFieldValue(value: string): boolean {
  return !BAD_VALUE.test(value);
}
