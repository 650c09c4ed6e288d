// The request target as Envoy's connection manager reads it before any filter or route sees it: an
// absolute-form URI (`GET http://host/p HTTP/1.1`) gives :authority and :path (RFC 9112 §3.2.2: its host wins
// over Host), and the path is normalized — RFC 3986 dot segments removed (normalize_path: `/a/../../etc`
// is `/etc`, so a prefix route guarding `/a` cannot be walked around), runs of slashes merged
// (merge_slashes). The query is left as it came.

export interface PathOptions {
  /** Envoy's normalize_path. */
  normalize: boolean;
  /** Envoy's merge_slashes. */
  mergeSlashes: boolean;
}

/** Both on: Envoy's defaults as Istio sets them. */
export const NORMALIZE_ALL: PathOptions = { normalize: true, mergeSlashes: true };

/** Characters RFC 3986 calls unreserved: an escape of one is the character itself (§6.2.2.2). */
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** `{authority, path}` of an absolute-form http(s) target; undefined for another form or scheme. */
export function absoluteForm(target: string): { authority: string; path: string } | undefined {
  const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(target);
  if (!m) return undefined;
  const authority = m[1].includes('@') ? m[1].slice(m[1].lastIndexOf('@') + 1) : m[1];
  const rest = m[2] === '' ? '/' : m[2].startsWith('?') ? `/${m[2]}` : m[2];
  return { authority, path: rest };
}

/**
 * The path (with its query) as the options normalize it; undefined when it cannot be (not origin-form:
 * Envoy then answers 400 path_normalization_failed). `*` (OPTIONS) is left alone.
 */
export function normalizedPath(target: string, options: PathOptions): string | undefined {
  if (target === '*') return target;
  if (target.charCodeAt(0) !== 47 /* / */) return undefined;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  // The common path needs nothing: no escape, dot segment, backslash or double slash.
  if (!/%|\/\.|\\|\/\//.test(path)) return target;
  let out = path;
  if (options.normalize) out = removeDotSegments(canonicalEscapes(out.replaceAll('\\', '/')));
  if (options.mergeSlashes) out = out.replace(/\/{2,}/g, '/');
  return out + query;
}

/** Escapes of unreserved characters decoded, the others' hex digits upper-cased (RFC 3986 §6.2.2). */
function canonicalEscapes(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
}

/** RFC 3986 §5.2.4: `.` and `..` segments resolved; a `..` above the root is dropped. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 0) out.pop();
      // A trailing dot segment leaves the directory it names: `/a/b/..` is `/a/`.
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}

/** A request refused before any filter runs, as Envoy's codec and connection manager refuse it. */
export interface TargetRejection {
  status: number;
  details: string;
  /** A malformed HTTP/1.1 message: the connection is not reused. */
  closeConnection: boolean;
}

export interface RequestLine {
  readonly httpVersionMajor: number;
  readonly rawHeaders: readonly string[];
}

/** An HTTP/2 request: its stream. */
export const isHttp2 = (req: RequestLine) => (req as { stream?: unknown }).stream !== undefined;

const VERSION_NOT_SUPPORTED: TargetRejection = {
  status: 505,
  details: 'http_version_not_supported',
  closeConnection: true,
};
const MULTIPLE_HOSTS: TargetRejection = {
  status: 400,
  details: 'multiple_host_headers',
  closeConnection: true,
};
export const ABSOLUTE_PATH_REJECTED: TargetRejection = {
  status: 400,
  details: 'absolute_path_rejected',
  closeConnection: false,
};
export const PATH_NORMALIZATION_FAILED: TargetRejection = {
  status: 400,
  details: 'path_normalization_failed',
  closeConnection: false,
};

/** Why an HTTP/1.x request line and head are refused, if they are. */
export function requestLineRejection(req: RequestLine): TargetRejection | undefined {
  if (isHttp2(req)) return undefined;
  // `GET / HTTP/2.0` on an HTTP/1.1 connection: a version this parser does not speak (nginx's 505).
  if (req.httpVersionMajor !== 1) return VERSION_NOT_SUPPORTED;
  // RFC 9112 §3.2: a request with more than one Host is answered 400 (as nginx does).
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i].length === 4 && raw[i].toLowerCase() === 'host' && ++hosts > 1) return MULTIPLE_HOSTS;
  return undefined;
}
