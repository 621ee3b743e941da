// Opens the prebuilt OHIF viewer (npm @ohif/app's dist/) in Debian's Chromium, pointed at a
// running `dicomweb-edge serve`: study list, then the CT study, until the viewport renders.
// Serves OHIF itself on a loopback port with an app-config.js for the edge, unless OHIF_URL
// names where the edge serves it (`serve`'s own viewer), which is then opened instead.
//
// Usage: node ohif_e2e.mjs OHIF_DIST DICOMWEB_ROOT STUDY_UID LIST_TEXTS OUT_DIR [TOKEN]
// LIST_TEXTS: `|`-separated texts the study list must show (e.g. study descriptions).
// With OHIF_REQUEST_TRANSFER_SYNTAX in the environment, the data source asks for that
// transfer syntax (`requestTransferSyntaxUID`). With OHIF_SIGN_IN=LOGIN:PASSWORD (and
// OHIF_URL), the viewer signs in first: the run opens the study list, follows OHIF to the
// identity provider's page, signs in there and consents, comes back to the list and opens
// the CT study from it. It then reports the access token OHIF holds (`accessToken`, on
// stdout only), the URLs the page loaded that carried it (`tokenInUrls`), and whether each
// DICOMweb request carried it (`bearer`: `signed-in`, `other` or null).
// With OHIF_README_SCREENSHOT=PATH, the rendered study is also saved there without OHIF's
// first-visit tour and notice (the README's picture, `scripts/screenshot.sh`).
// Prints JSON: {requests: [{url, status, accept, range, contentType, contentRange,
// authorization}], studyList, pixels, screenshot}; a `token` in a URL is redacted.
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { launch, pngStats } from './browser.mjs';

const [dist, root, study, listTexts, outDir, token] = process.argv.slice(2);

const dataSource = {
  namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
  sourceName: 'dicomweb-edge',
  configuration: {
    friendlyName: 'dicomweb-edge',
    name: 'dicomweb-edge',
    wadoUriRoot: root,
    qidoRoot: root,
    wadoRoot: root,
    qidoSupportsIncludeField: true,
    imageRendering: 'wadors',
    thumbnailRendering: 'thumbnail',
    thumbnailRequestStrategy: 'fetch',
    enableStudyLazyLoad: true,
    supportsFuzzyMatching: false,
    supportsWildcard: true,
    omitQuotationForMultipartRequest: true,
    ...(process.env.OHIF_REQUEST_TRANSFER_SYNTAX
      ? { requestTransferSyntaxUID: process.env.OHIF_REQUEST_TRANSFER_SYNTAX }
      : {}),
  },
};
const signIn = process.env.OHIF_SIGN_IN;
const runName = process.env.OHIF_REQUEST_TRANSFER_SYNTAX ? '-requested-syntax'
  : signIn ? '-signed-in' : process.env.OHIF_URL ? '-served' : '';
const appConfig = `window.config = ${JSON.stringify({
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  strictZSpacingForVolumeViewport: false,
  defaultDataSourceName: 'dicomweb-edge',
  dataSources: [dataSource],
})};`;

const types = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.png': 'image/png', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
};
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/app-config.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    return res.end(appConfig);
  }
  let file = path.join(dist, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ''));
  let body;
  try {
    body = await readFile(file);
  } catch {
    file = path.join(dist, 'index.html'); // the single-page app's routes
    body = await readFile(file);
  }
  res.writeHead(200, {
    'content-type': types[path.extname(file)] ?? 'application/octet-stream',
    // SharedArrayBuffer for the decoders.
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
  });
  res.end(body);
});
let ohif;
if (process.env.OHIF_URL) {
  ohif = process.env.OHIF_URL.replace(/\/$/, '');
} else {
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  ohif = `http://127.0.0.1:${server.address().port}`;
}

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const requests = [];
// Each request's Authorization header, beside `requests`, and every URL the page loaded.
const authorizations = [];
const urls = [];
page.on('request', req => urls.push(req.url()));
// Thumbnails asked for and not yet answered (or failed).
const thumbnails = { asked: 0, open: 0 };
const isThumbnail = req => new URL(req.url()).pathname.endsWith('/thumbnail');
page.on('request', req => { if (isThumbnail(req)) { thumbnails.asked++; thumbnails.open++; } });
for (const event of ['requestfinished', 'requestfailed']) {
  page.on(event, req => { if (isThumbnail(req)) thumbnails.open--; });
}
const edgeOrigin = new URL(root).origin;
const redacted = url => url.replace(/([?&]token=)[^&]*/g, '$1<redacted>');
page.on('response', async response => {
  const req = response.request();
  if (!req.url().startsWith(edgeOrigin)) return;
  // A response that arrives while the browser closes can no longer be read; the run is
  // over by then, so it is not part of the result (and must not crash the driver).
  const headers = await req.allHeaders().catch(() => null);
  if (!headers) return;
  requests.push({
    url: redacted(req.url().slice(edgeOrigin.length)),
    method: req.method(),
    status: response.status(),
    accept: headers['accept'] ?? null,
    range: headers['range'] ?? null,
    contentType: response.headers()['content-type'] ?? null,
    contentRange: response.headers()['content-range'] ?? null,
    authorization: headers['authorization'] ? 'Bearer <redacted>' : null,
  });
  authorizations.push(headers['authorization'] ?? null);
});
page.on('requestfailed', req => {
  if (req.url().startsWith(edgeOrigin)) {
    requests.push({ url: redacted(req.url().slice(edgeOrigin.length)), method: req.method(), status: 0,
      error: req.failure()?.errorText });
    authorizations.push(null);
  }
});

const cspViolations = [];
page.on('console', msg => {
  if (msg.text().includes('Content Security Policy')) cspViolations.push(msg.text());
});
const result = { requests, cspViolations };

/** Mean, spread and lit fraction of the canvas's pixels, and the grey values. */
async function canvasStats(canvas) {
  return pngStats(await canvas.screenshot());
}

try {
  // OHIF takes a bearer token from the viewer URL (`?token=`, removed from the address
  // once read) and sends it on every request; its study list has no such option, so with
  // a token the run opens the viewer directly.
  if (signIn) {
    const [login, password] = signIn.split(':');
    await page.goto(`${ohif}/`, { waitUntil: 'domcontentloaded' });
    // OHIF, with no user yet, sends the browser to the provider's sign-in page.
    const viewerOrigin = new URL(ohif).origin;
    await page.waitForURL(u => u.origin !== viewerOrigin, { timeout: 60000 });
    const at = new URL(page.url());
    result.signInPage = `${at.origin}${at.pathname}`;
    await page.locator('input[name=login]').fill(login, { timeout: 30000 });
    await page.locator('input[name=password]').fill(password);
    await page.screenshot({ path: path.join(outDir, 'ohif-sign-in.png') });
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click({ timeout: 30000 });
    await page.waitForURL(u => u.origin === viewerOrigin, { timeout: 60000 });
  }
  if (!token) {
    if (!signIn) await page.goto(`${ohif}/`, { waitUntil: 'domcontentloaded' });
    const texts = listTexts.split('|');
    for (const text of texts) {
      await page.getByText(text, { exact: true }).first().waitFor({ timeout: 60000 });
    }
    result.studyList = texts;
    await page.screenshot({ path: path.join(outDir, `ohif-study-list${runName}.png`) });
  }
  if (signIn) {
    result.accessToken = await page.evaluate(() => {
      for (let i = 0; i < sessionStorage.length; i++) {
        const key = sessionStorage.key(i);
        if (key.startsWith('oidc.user:')) return JSON.parse(sessionStorage.getItem(key)).access_token;
      }
      return null;
    });
  }
  if (signIn) {
    // As a reader would, from the list (a new page load would be a new sign-in round trip):
    // the study (the first of LIST_TEXTS), then OHIF's basic viewer for it.
    await page.getByText(listTexts.split('|')[0], { exact: true }).first().click();
    // The study's series thumbnails appear in the panel before the reader moves on.
    // (Asked for within 5 s, unless OHIF had them already; then all answered.)
    const asked = thumbnails.asked;
    const started = Date.now();
    while (thumbnails.asked === asked && Date.now() < started + 5000) await page.waitForTimeout(100);
    while (thumbnails.open > 0 && Date.now() < started + 30000) await page.waitForTimeout(100);
    await page.getByRole('button', { name: 'Basic Viewer' }).click({ timeout: 30000 });
    await page.waitForURL(u => u.pathname === '/viewer' && u.searchParams.get('StudyInstanceUIDs') === study,
      { timeout: 30000 });
  } else {
    const auth = token ? `&token=${encodeURIComponent(token)}` : '';
    await page.goto(`${ohif}/viewer?StudyInstanceUIDs=${study}${auth}`, { waitUntil: 'domcontentloaded' });
  }
  // The viewport's canvas, once frames have been drawn into it.
  const canvas = page.locator('.cornerstone-canvas, canvas.cornerstone-canvas').first();
  await canvas.waitFor({ state: 'visible', timeout: 90000 });
  let stats = null;
  const deadline = Date.now() + 90000;
  while (Date.now() < deadline) {
    await page.waitForTimeout(1000);
    ({ stats } = await canvasStats(canvas));
    if (stats.sd > 10 && stats.lit > 0.02) break;
  }
  result.pixels = stats;
  result.screenshot = path.join(outDir, token ? `ohif-ct-with-token${runName}.png` : `ohif-ct${runName}.png`);
  await page.screenshot({ path: result.screenshot });
  if (process.env.OHIF_README_SCREENSHOT) {
    // The picture of the README: the same view without OHIF's first-visit tour and notice.
    for (const name of ['Skip all', 'Confirm and hide']) {
      const button = page.getByRole('button', { name });
      if (await button.count()) await button.first().click().catch(() => {});
      else await page.getByText(name, { exact: true }).first().click({ timeout: 2000 }).catch(() => {});
    }
    // To the middle slice (OHIF's hotkey for the next image), where the lungs are.
    await canvas.hover();
    for (let i = 0; i < 32; i++) await page.keyboard.press('ArrowDown');
    await page.waitForTimeout(2000);
    await page.screenshot({ path: process.env.OHIF_README_SCREENSHOT });
    result.readmeScreenshot = process.env.OHIF_README_SCREENSHOT;
  }
} catch (e) {
  result.error = String(e);
  await page.screenshot({ path: path.join(outDir, 'ohif-failure.png') }).catch(() => {});
} finally {
  await browser.close();
  if (server.listening) server.close();
}
if (result.accessToken) {
  const t = result.accessToken;
  result.tokenInUrls = urls.filter(u => u.includes(t) || u.includes(encodeURIComponent(t)));
  requests.forEach((r, i) => {
    const a = authorizations[i];
    r.bearer = a === null ? null : a === `Bearer ${t}` ? 'signed-in' : 'other';
  });
}
// The token goes to stdout, for the test, and not into the artefacts.
const { accessToken, ...kept } = result;
await writeFile(path.join(outDir, `ohif-result${runName}.json`), JSON.stringify(kept, null, 2));
console.log(JSON.stringify(result));
