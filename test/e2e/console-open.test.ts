import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushArtifact, MODEL_CONFIG, modelConfig } from '../helpers/ml-artifacts';
import { launchChromium } from '../helpers/browser';

describe('the web console with authentication off (local experiments)', () => {
  let reg: TestRegistry;
  let browser: Browser;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await reg?.close();
  });

  it('needs no sign-in: search, a card, a download', async () => {
    const weights = Buffer.from('open weights '.repeat(1000));
    const m = await pushArtifact(reg.url, 'lab/tiny', 'v1', {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      configMediaType: MODEL_CONFIG,
      config: modelConfig('tiny'),
      files: { 'README.md': '# Tiny lab model\n', 'weights.bin': weights },
    });
    expect(m.status).toBe(201);
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    await page.goto(`${reg.url}/`);
    await page.getByText('anyone (authentication is off)').waitFor();
    await page.getByRole('link', { name: 'tiny 1.0' }).click();
    await page.getByRole('heading', { name: 'Tiny lab model' }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download weights.bin' }).click(),
    ]);
    expect((await readFile((await download.path())!)).equals(weights)).toBe(true);
    await context.close();
  });
});
