// A minimal reverse proxy the way most Node code would write one today: node:http + undici's fetch, no
// filters. bench/proxy-bench.mjs runs it next to the tuned Pool passthrough (undici-passthrough.mjs): the
// issue's ~7 k req/s baseline (nginx ~29 k in the same run) matches this one's ratio to nginx.
// Usage: node bench/fetch-passthrough.mjs <listen-port> <upstream-port>
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { fetch } from 'undici';

const [port, upstream] = process.argv.slice(2).map(Number);
const origin = `http://127.0.0.1:${upstream}`;
createServer(async (req, res) => {
  try {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const r = await fetch(origin + req.url, {
      method: req.method,
      headers: Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection'),
      body: hasBody ? Readable.toWeb(req) : undefined,
      duplex: hasBody ? 'half' : undefined,
    });
    res.writeHead(r.status, [...r.headers].flat());
    if (r.body) for await (const chunk of r.body) res.write(chunk);
    res.end();
  } catch {
    res.writeHead(502);
    res.end();
  }
}).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
