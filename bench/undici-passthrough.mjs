// The baseline of bench/proxy-bench.mjs: a minimal reverse proxy on node:http + undici, no filters.
// Usage: node bench/undici-passthrough.mjs <listen-port> <upstream-port>
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, upstream] = process.argv.slice(2).map(Number);
const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 64 });
createServer(async (req, res) => {
  try {
    const r = await pool.request({
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
    });
    res.writeHead(r.statusCode, r.headers);
    for await (const chunk of r.body) res.write(chunk);
    res.end();
  } catch {
    res.writeHead(502);
    res.end();
  }
}).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
