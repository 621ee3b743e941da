// What the viewer tests share: Debian's Chromium as the machine can run it headless, and the
// pixels of a PNG.
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';

/** Chromium, headless, with software WebGL, and no background connections (the machine's
 * network is closed). */
export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--enable-unsafe-swiftshader', '--use-angle=swiftshader'],
  });
}

/** Mean, spread and lit fraction of a PNG's pixels (grey = mean of R, G, B), and the greys. */
export function pngStats(buffer) {
  const png = PNG.sync.read(buffer);
  const values = [];
  for (let i = 0; i < png.data.length; i += 4) {
    values.push((png.data[i] + png.data[i + 1] + png.data[i + 2]) / 3);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  const lit = values.filter(v => v > 16).length / values.length;
  return { stats: { width: png.width, height: png.height, mean, sd, lit }, values };
}
