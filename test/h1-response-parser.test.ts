// The upstream client's HTTP/1.1 response parser and request head, on bytes: framing (RFC 9112 §6.3),
// responses split at every byte, trailers, keep-alive, and the errors for malformed responses.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidRequestError, lastChunk, requestHead } from '../src/http/h1/request-head.js';
import { HttpParseError, MAX_HEAD_BYTES, ResponseParser } from '../src/http/h1/response-parser.js';

interface Parsed {
  status?: number;
  headers?: string[];
  keepAlive?: boolean;
  keepAliveTimeoutS?: number;
  body: string;
  trailers?: string[];
  complete: boolean;
  used: number;
}

function parser(head = false): { p: ResponseParser; out: Parsed } {
  const out: Parsed = { body: '', complete: false, used: 0 };
  const p = new ResponseParser(
    {
      onHead(status, flat, keepAlive, timeoutS) {
        out.status = status;
        out.headers = flat;
        out.keepAlive = keepAlive;
        out.keepAliveTimeoutS = timeoutS;
      },
      onBody(chunk) {
        assert.ok(!out.complete, 'no body after the response completed');
        out.body += chunk.toString('latin1');
      },
      onComplete(trailers) {
        assert.ok(!out.complete, 'completed once');
        out.complete = true;
        out.trailers = trailers;
      },
    },
    head,
  );
  return { p, out };
}

/** Parses `text` whole, and again fed one byte at a time: both must agree. */
function parse(text: string, head = false): Parsed {
  const whole = parser(head);
  whole.out.used = whole.p.execute(Buffer.from(text, 'latin1'));
  const bytes = parser(head);
  for (let i = 0; i < text.length && !bytes.p.done; i++)
    bytes.out.used += bytes.p.execute(Buffer.from(text[i], 'latin1'));
  assert.deepEqual(bytes.out, whole.out, 'byte-at-a-time parse differs from the whole one');
  return whole.out;
}

function parseError(text: string): string {
  const { p } = parser();
  try {
    p.execute(Buffer.from(text, 'latin1'));
  } catch (e) {
    assert.ok(e instanceof HttpParseError, `a parse error, not ${e}`);
    return e.message;
  }
  assert.fail(`no parse error for ${JSON.stringify(text)}`);
}

describe('HTTP/1.1 response parser: framing', () => {
  it('content-length: the body, lower-case names, keep-alive by default', () => {
    const r = parse(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Two: a\r\nx-two: b\r\n\r\nhello',
    );
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, [
      'content-type',
      'text/plain',
      'content-length',
      '5',
      'x-two',
      'a',
      'x-two',
      'b',
    ]);
    assert.equal(r.body, 'hello');
    assert.equal(r.complete, true);
    assert.equal(r.keepAlive, true);
    assert.equal(r.keepAliveTimeoutS, -1);
  });

  it('chunked, with chunk extensions and trailers', () => {
    const r = parse(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Sum: abc\r\nX-More: 1\r\n\r\n',
    );
    assert.equal(r.body, 'hello world');
    assert.deepEqual(r.trailers, ['x-sum', 'abc', 'x-more', '1']);
    assert.equal(r.keepAlive, true);
  });

  it('chunked without trailers completes on the empty line', () => {
    const r = parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n');
    assert.equal(r.body, '0123456789');
    assert.equal(r.trailers, undefined);
    assert.equal(r.complete, true);
  });

  it('transfer-encoding and content-length together are refused (as Envoy refuses them)', () => {
    assert.match(
      parseError(
        'HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      ),
      /both transfer-encoding and content-length/,
    );
  });

  it('no length: the body runs until the connection closes, which ends the response; not kept alive', () => {
    const { p, out } = parser();
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\npart one, '));
    p.execute(Buffer.from('part two'));
    assert.equal(out.complete, false);
    assert.equal(p.untilClose, true);
    p.finish();
    assert.equal(out.body, 'part one, part two');
    assert.equal(out.complete, true);
    assert.equal(out.keepAlive, false);
  });

  it('a transfer-encoding that is not chunked last also runs until close', () => {
    const { p, out } = parser();
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nxyz'));
    assert.equal(p.untilClose, true);
    assert.equal(out.keepAlive, false);
  });

  it('HEAD, 204 and 304 have no body whatever their headers say', () => {
    const head = parse('HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n', true);
    assert.equal(head.complete, true);
    assert.equal(head.body, '');
    for (const status of [204, 304]) {
      const r = parse(`HTTP/1.1 ${status} X\r\ncontent-length: 42\r\n\r\n`);
      assert.equal(r.status, status);
      assert.equal(r.complete, true);
    }
  });

  it('1xx interim responses are skipped; the final one is reported', () => {
    const r = parse(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok',
    );
    assert.equal(r.status, 201);
    assert.deepEqual(r.headers, ['content-length', '2']);
    assert.equal(r.body, 'ok');
  });

  it('a status line without a reason phrase', () => {
    assert.equal(parse('HTTP/1.1 404\r\ncontent-length: 0\r\n\r\n').status, 404);
  });

  it('bytes past the end of the response are not consumed', () => {
    const r = parse('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA');
    assert.equal(r.body, 'ok');
    assert.equal(r.used, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'.length);
  });

  it('obsolete line folding is joined with a space; optional whitespace is trimmed', () => {
    const r = parse('HTTP/1.1 200 OK\r\nx-long: one\r\n  two\r\nx-pad: \t v \t\r\ncontent-length: 0\r\n\r\n');
    assert.deepEqual(r.headers, ['x-long', 'one two', 'x-pad', 'v', 'content-length', '0']);
  });

  it('a list of equal content-lengths is one length', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc').body, 'abc');
  });
});

describe('HTTP/1.1 response parser: keep-alive', () => {
  it('connection: close, and HTTP/1.0 without keep-alive, are not kept', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n').keepAlive, false);
    assert.equal(
      parse('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n').keepAlive,
      true,
    );
  });

  it("the server's Keep-Alive timeout hint is reported", () => {
    const r = parse('HTTP/1.1 200 OK\r\nkeep-alive: timeout=5, max=100\r\ncontent-length: 0\r\n\r\n');
    assert.equal(r.keepAliveTimeoutS, 5);
  });
});

describe('HTTP/1.1 response parser: malformed responses are errors that say what is wrong', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', /invalid status line "SSH-2.0-OpenSSH"/],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', /invalid status line/],
    ['HTTP/2 on an HTTP/1.1 connection', 'HTTP/2 200\r\n\r\n', /invalid status line/],
    [
      'a header line without a colon',
      'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
      /invalid header line "no colon here"/,
    ],
    [
      'a space in a header name',
      'HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n',
      /invalid header line "bad name: x"/,
    ],
    ['a bare LF', 'HTTP/1.1 200 OK\r\nx-a: 1\nx-b: 2\r\n\r\n', /bare CR or LF/],
    ['a NUL in a value', 'HTTP/1.1 200 OK\r\nx-a: 1\0\r\n\r\n', /NUL/],
    ['another control character in a value', 'HTTP/1.1 200 OK\r\nx-a: a\x01b\r\n\r\n', /control character/],
    ['a bare LF in the reason phrase', 'HTTP/1.1 200 OK\nx-a: 1\r\n\r\n', /invalid status line/],
    [
      'conflicting content-lengths',
      'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n',
      /conflicting content-length/,
    ],
    [
      'a negative content-length',
      'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n',
      /invalid content-length "-1"/,
    ],
    [
      'a chunk size that is not hex',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
      /invalid chunk size "zz"/,
    ],
    [
      'chunk data longer than its size',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nabc\r\n',
      /chunk data longer/,
    ],
    ['a continuation line first', 'HTTP/1.1 200 OK\r\n folded\r\n\r\n', /continuation line without a header/],
    [
      'a protocol switch',
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n',
      /switched protocols \(101\)/,
    ],
  ];
  for (const [what, text, message] of cases) {
    it(what, () => assert.match(parseError(text), message));
  }

  it('a head larger than the limit', () => {
    const big = `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(MAX_HEAD_BYTES)}`;
    assert.match(parseError(big), /response head larger than 65536 bytes/);
  });

  it('the connection closing mid-body', () => {
    const { p } = parser();
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc'));
    assert.throws(() => p.finish(), /connection closed before the response ended/);
  });
});

describe('HTTP/1.1 request head', () => {
  it('a known body: its real length, whatever content-length the headers carried', () => {
    const head = requestHead('POST', '/p?q=1', ['host', 'up', 'content-length', '999', 'x-a', '1'], {
      length: 4,
    });
    assert.equal(head, 'POST /p?q=1 HTTP/1.1\r\nhost: up\r\nx-a: 1\r\ncontent-length: 4\r\n\r\n');
  });

  it('no body: content-length 0 only where the method expects a body or the client sent one', () => {
    assert.equal(
      requestHead('GET', '/', ['host', 'up'], { length: 0 }),
      'GET / HTTP/1.1\r\nhost: up\r\n\r\n',
    );
    assert.match(requestHead('POST', '/', ['host', 'up'], { length: 0 }), /content-length: 0\r\n/);
    assert.match(requestHead('GET', '/', ['content-length', '0'], { length: 0 }), /content-length: 0\r\n/);
  });

  it('a streamed body without a length is chunked', () => {
    assert.equal(
      requestHead('PUT', '/x', ['host', 'up'], 'chunked'),
      'PUT /x HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n',
    );
  });

  it('refuses what would split the message: line breaks in values, bad names, targets and methods', () => {
    assert.throws(
      () => requestHead('GET', '/', ['x-a', 'v\r\nx-injected: 1'], { length: 0 }),
      InvalidRequestError,
    );
    assert.throws(
      () => requestHead('GET', '/', ['x-a', 'v\nGET /evil HTTP/1.1'], { length: 0 }),
      /invalid value for header x-a/,
    );
    assert.throws(
      () => requestHead('GET', '/', ['bad name', 'v'], { length: 0 }),
      /invalid header name "bad name"/,
    );
    assert.throws(() => requestHead('GET', '/a b', [], { length: 0 }), /invalid request target "\/a b"/);
    assert.throws(() => requestHead('GET', '', [], { length: 0 }), /invalid request target/);
    assert.throws(() => requestHead('GE T', '/', [], { length: 0 }), /invalid method "GE T"/);
  });

  it('the last chunk carries the trailers; ones that cannot be sent are dropped', () => {
    assert.equal(lastChunk(undefined), '0\r\n\r\n');
    assert.equal(lastChunk(['x-sum', 'abc', 'bad name', 'x', 'x-evil', 'a\r\nb']), '0\r\nx-sum: abc\r\n\r\n');
  });
});
