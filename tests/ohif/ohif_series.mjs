// Opens every series named in SERIES_JSON, one at a time, in the viewer `serve` serves, and
// captures what the viewport shows: the image drawn on its canvas (`toDataURL`, without the
// overlays), the overlay's instance number and stack position (`I: n (k/N)`), the console
// errors and failed requests while the series loaded, and the study browser's thumbnails.
//
// The browser reaches `serve` through a proxy on PROXY_PORT (`serve --public-url` names it),
// which passes everything on unchanged except the frames of the series marked `drip`: of
// those it sends the first DRIP_BYTES bytes of each answer and holds the rest until the
// viewport has been captured as drawn from them, so that what a slow network shows before a
// frame is complete is seen (Cornerstone3D decodes an HTJ2K frame from what has arrived, and
// waits for the whole frame in other syntaxes).
//
// Usage: node ohif_series.mjs SERVE_URL PROXY_PORT SERIES_JSON OUT_DIR [TOKEN]
// SERIES_JSON: [{"name", "source", "study", "series", "drip"?}]
// Prints JSON: {series: [{name, png, overlay, partial?, consoleErrors, failedRequests,
// frames: [{url, status, accept, contentType, range, authorization}], thumbnails: [{url,
// status, contentType, png}]}], error?}
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { launch, pngStats } from './browser.mjs';

const [target, proxyPort, seriesFile, outDir, token] = process.argv.slice(2);
const series = JSON.parse(await readFile(seriesFile, 'utf8'));
const DRIP_BYTES = Number(process.env.DRIP_BYTES ?? 8400);

// The proxy. `drip` is the URL prefix of the frames to hold, `held` resolves when the first
// one is held, `release()` lets them all go.
let drip = null;
let heldOne;
let held = new Promise(r => { heldOne = r; });
let release;
let released = new Promise(r => { release = r; });
const proxy = http.createServer((req, res) => {
  const upstream = http.request(new URL(req.url, target),
    { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, up => {
      const chunks = [];
      up.on('data', c => chunks.push(c));
      up.on('end', async () => {
        const body = Buffer.concat(chunks);
        const headers = { ...up.headers };
        delete headers['transfer-encoding'];
        headers['content-length'] = String(body.length);
        res.writeHead(up.statusCode, headers);
        const dripping = drip && req.url.startsWith(drip) && req.url.includes('/frames/')
          && body.length > DRIP_BYTES;
        if (!dripping) return res.end(body);
        res.write(body.subarray(0, DRIP_BYTES));
        heldOne();
        await released;
        res.end(body.subarray(DRIP_BYTES));
      });
    });
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
await new Promise(r => proxy.listen(Number(proxyPort), '127.0.0.1', r));
const ohif = `http://127.0.0.1:${proxyPort}`;

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
let current = null;
page.on('console', msg => {
  if (current && msg.type() === 'error') current.consoleErrors.push(msg.text());
});
page.on('pageerror', e => { if (current) current.consoleErrors.push(String(e)); });
page.on('requestfailed', req => {
  if (current) current.failedRequests.push(`${req.url()}: ${req.failure()?.errorText}`);
});
const bodies = [];
page.on('response', async response => {
  if (!current) return;
  const req = response.request();
  const url = new URL(req.url());
  const record = current;
  if (response.status() >= 400) record.failedRequests.push(`${req.url()}: ${response.status()}`);
  if (url.pathname.includes('/frames/')) {
    const headers = await req.allHeaders().catch(() => ({}));
    record.frames.push({
      url: url.pathname, status: response.status(), accept: headers['accept'] ?? null,
      range: headers['range'] ?? null, authorization: headers['authorization'] ? 'Bearer' : null,
      contentType: response.headers()['content-type'] ?? null,
    });
  }
  if (url.pathname.endsWith('/thumbnail')) {
    // The thumbnail as the browser asked for it (Playwright cannot always give back the body
    // of a response the page read through `fetch`, so it is asked for again, the same way).
    const headers = await req.allHeaders().catch(() => ({}));
    const file = path.join(outDir, `thumbnail-${record.thumbnails.length}-${record.name}.img`);
    record.thumbnails.push({ url: url.pathname, status: response.status(),
      contentType: response.headers()['content-type'] ?? null, png: file });
    bodies.push(fetch(req.url(), { headers: { accept: headers['accept'] ?? '*/*',
      ...(headers['authorization'] ? { authorization: headers['authorization'] } : {}) } })
      .then(r => r.arrayBuffer()).then(b => writeFile(file, Buffer.from(b))).catch(() => {}));
  }
});

/** The viewport's image as drawn (a PNG of its canvas, without the overlays). */
async function capture(canvas) {
  const url = await canvas.evaluate(c => c.toDataURL('image/png'));
  return Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
}

const result = { series: [] };
try {
  const auth = token ? `&token=${encodeURIComponent(token)}` : '';
  for (const s of series) {
    current = { name: s.name, consoleErrors: [], failedRequests: [], frames: [], thumbnails: [] };
    result.series.push(current);
    drip = s.drip ? `/datastore/` : null;
    held = new Promise(r => { heldOne = r; });
    released = new Promise(r => { release = r; });
    await page.goto(`${ohif}/viewer/${s.source}?StudyInstanceUIDs=${s.study}`
      + `&SeriesInstanceUIDs=${s.series}${auth}`, { waitUntil: 'domcontentloaded' });
    const canvas = page.locator('canvas.cornerstone-canvas').first();
    await canvas.waitFor({ state: 'visible', timeout: 60000 });
    if (s.drip) {
      const wasHeld = await Promise.race([held.then(() => true),
        page.waitForTimeout(20000).then(() => false)]);
      if (wasHeld) {
        // What the viewport shows from the first bytes of its frame alone.
        await page.waitForTimeout(2500);
        const partial = await capture(canvas);
        current.partial = path.join(outDir, `viewer-${s.name}-partial.png`);
        await writeFile(current.partial, partial);
      }
      release();
    }
    // Until the drawn image holds still (and is not blank, or the time is up).
    let last = null;
    let png = null;
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      await page.waitForTimeout(700);
      png = await capture(canvas);
      const { stats } = pngStats(png);
      if (last && png.equals(last) && stats.sd > 0) break;
      last = png;
    }
    current.png = path.join(outDir, `viewer-${s.name}.png`);
    await writeFile(current.png, png);
    await page.screenshot({ path: path.join(outDir, `viewer-${s.name}-page.png`) });
    const overlay = await page.locator('.overlay-item').allInnerTexts().catch(() => []);
    current.overlay = overlay.join(' | ');
    await Promise.all(bodies.splice(0));
  }
} catch (e) {
  result.error = String(e);
  await page.screenshot({ path: path.join(outDir, 'viewer-failure.png') }).catch(() => {});
} finally {
  current = null;
  await browser.close();
  proxy.close();
}
console.log(JSON.stringify(result));
