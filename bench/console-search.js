'use strict';
/**
 * The console's search, as a person meets it, over the search profile's 100,000 artifacts: Debian's
 * Chromium (playwright-core) signs in to /ui/, types each query a key at a time (60 ms apart, a fast
 * typist), and the time is taken from the last key to the results of that query on the screen (the
 * page's 150 ms pause after typing included). Part of bench/search.js; skipped without Chromium.
 */
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');

const CHROMIUM = process.env.CAIRN_CHROMIUM || '/usr/bin/chromium';
const QUERIES = ['bert', 'llama chat', 'resnet', 'whisper asr', 'vision'];
const ROUNDS = 3;

async function measureConsoleSearch(base, dataDir, log) {
  if (!fs.existsSync(CHROMIUM)) {
    log(`  console search skipped: no Chromium at ${CHROMIUM}`);
    return undefined;
  }
  const { chromium } = require('playwright-core');
  const password = (await fsp.readFile(path.join(dataDir, 'admin-password'), 'utf8')).trim();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/`);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('table.results[aria-busy="false"] tbody tr').first().waitFor({ timeout: 30000 });
    const box = page.getByRole('searchbox', { name: 'Search' });
    const times = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const q of QUERIES) {
        await box.fill('');
        await page.waitForTimeout(300);
        await page.locator('table.results[aria-busy="false"]').waitFor();
        const answered = page.waitForResponse(
          (r) => r.url().includes('/v2/_cairn/search?') && new URL(r.url()).searchParams.get('q') === q,
          { timeout: 30000 },
        );
        await box.pressSequentially(q, { delay: 60 });
        const t0 = Date.now();
        await answered;
        await page.locator('table.results[aria-busy="false"]').waitFor({ timeout: 30000 });
        (times[q] = times[q] || []).push(Date.now() - t0);
      }
    }
    const rows = QUERIES.map((q) => {
      const s = [...times[q]].sort((a, b) => a - b);
      return { query: q, medianMs: s[Math.floor(s.length / 2)], maxMs: s[s.length - 1] };
    });
    for (const r of rows)
      log(
        `  console search "${r.query}": results on screen ${r.medianMs} ms after the last key (max ${r.maxMs} of ${ROUNDS})`,
      );
    return rows;
  } finally {
    await browser.close();
  }
}

module.exports = { measureConsoleSearch };
