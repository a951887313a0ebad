// Node.js's http client (HTTP/1.1) for t/53-core-defects-b_spec.lua: POSTs
// BYTES (content-length) to PORT PATH and reports what happened:
//   "response STATUS BODY" when the response ended, "error CODE MESSAGE"
//   on an error, then "close MS". Exits on its own within SECS seconds.
//   node defects_b_h1post.js PORT PATH BYTES SECS
const http = require('http');
const [port, path, bytes, secs] = process.argv.slice(2).map((v, i) => (i === 1 ? v : +v));
const t0 = Date.now();
const body = Buffer.alloc(bytes, 120);
setTimeout(() => { console.log('timeout ' + (Date.now() - t0)); process.exit(3); }, secs * 1000).unref();
const req = http.request({ host: '127.0.0.1', port, method: 'POST', path,
  headers: { 'content-length': body.length }, agent: false }, (res) => {
  let got = '';
  res.setEncoding('latin1');
  res.on('data', (c) => { got += c; });
  res.on('end', () => console.log('response ' + res.statusCode + ' ' + got));
});
req.on('error', (e) => console.log('error ' + e.code + ' ' + e.message));
req.on('close', () => console.log('close ' + (Date.now() - t0)));
req.end(body);
