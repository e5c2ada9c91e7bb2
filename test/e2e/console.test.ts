import { readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { CONSOLE_DIR } from '../../src/http/console-assets';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestRegistry } from '../helpers/server';
import { addUser, adminPassword, bearer, startAuthRegistry, storeOf, token } from '../helpers/auth';
import { MODEL_CONFIG, modelConfig, pushArtifact, pushDataset } from '../helpers/ml-artifacts';
import { launchChromium } from '../helpers/browser';
import { attachBundle, p256, signStatement } from '../helpers/sign-bundle';
import { newTotpSecret, totpNow } from '../../src/auth/totp';

const PW = 'a-long-password-1234';
const WEIGHTS = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251));
// What an attacker would put in a model card: every one of these must stay inert.
const README = `# BERT fine-tuned for claims

Trained on **claims-2026**. See the [evaluation](https://example.com/eval).

<script>window.__xss = 'script'</script>
<img src="x" onerror="window.__xss = 'onerror'">
<a href="javascript:window.__xss='link'">click me</a>
<svg><animate onbegin="window.__xss='svg'" attributeName="x" dur="1s"/></svg>
<iframe src="javascript:window.__xss='iframe'"></iframe>
`;

const rules = `
lifecycle:
  - repositories: ["ml/**"]
    fourEyes: true
    approvals: 1
  - repositories: ["**"]
`;

describe('the web console in a real browser (Chromium through Playwright)', () => {
  let reg: TestRegistry;
  let browser: Browser;
  let modelDigest: string;
  const seenUrls: string[] = [];

  const newPage = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.on('request', (r) => seenUrls.push(r.url()));
    page.on('dialog', (d) => {
      seenUrls.push(`dialog:${d.message()}`);
      void d.dismiss();
    });
    return { context, page };
  };

  // CAIRN_CONSOLE_SCREENSHOTS=docs/images npx jest test/e2e/console.test.ts refreshes docs/console.md's pictures.
  const shot = async (page: Page, name: string) => {
    const dir = process.env.CAIRN_CONSOLE_SCREENSHOTS;
    if (dir) await page.screenshot({ path: path.join(dir, `console-${name}.png`), fullPage: true });
  };

  const signIn = async (page: Page, user: string, otp?: () => Promise<string>) => {
    await page.goto(`${reg.url}/`);
    await page.getByLabel('User name').waitFor();
    await shot(page, 'sign-in');
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(PW);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (otp) {
      await page.getByLabel('Code from your authenticator app').fill(await otp());
      await page.getByRole('button', { name: 'Verify code' }).click();
    }
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  };

  /** axe-core's check of the page as it stands: no serious or critical violation. */
  const check = async (page: Page, name: string) => {
    const axe = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
    // Evaluated through the DevTools protocol, which the page's CSP does not govern.
    await page.evaluate(axe);
    const violations = (await page.evaluate(
      "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))",
    )) as { id: string; impact: string; nodes: number }[];
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect({ page: name, serious }).toEqual({ page: name, serious: [] });
  };

  const graphReady = (page: Page) => page.getByRole('group', { name: 'Lineage graph' }).waitFor();

  const openModel = async (page: Page) => {
    await page.getByRole('searchbox', { name: 'Search' }).fill('bert');
    await page
      .getByRole('link', { name: /ml\/bert|bert/ })
      .first()
      .click();
    await page.getByRole('heading', { name: 'BERT fine-tuned for claims' }).waitFor();
  };

  beforeAll(async () => {
    reg = await startAuthRegistry(undefined, {}, { audit: { checkpointSeconds: 1 } });
    await addUser(reg, 'alice', PW, [], [['maintainer', 'ml/']]);
    await addUser(reg, 'bob', PW, [], [['approver', 'ml/']]);
    await addUser(reg, 'carol', PW, [], [['reader', 'ml/']]);
    await addUser(reg, 'erin', PW, [], [['auditor', '*']]);
    await addUser(reg, 'dave', PW, [], [['reader', 'ml/']]);
    await writeFile(path.join(reg.config.auth.policyDir, 'governance.yaml'), rules);
    // ml/bert may only be approved signed by the release key.
    const release = p256();
    await writeFile(path.join(reg.config.auth.policyDir, 'release.pub'), release.pem);
    await writeFile(
      path.join(reg.config.auth.policyDir, 'trust.yaml'),
      `keys: [{ name: release, publicKeyFile: release.pub }]\npolicies:\n  - repositories: ["ml/bert"]\n    mode: enforce\n    signers: [{ key: release }]\n`,
    );
    await reg.registry.auth!.authorizer.load();
    const data = await pushDataset(
      reg.url,
      'ml/claims',
      'v1',
      { name: 'claims-2026', licenses: ['CC-BY-4.0'] },
      bearer(await token(reg.url, 'alice', PW, ['repository:ml/claims:pull,push'])),
    );
    expect(data.status).toBe(201);
    const model = await pushArtifact(reg.url, 'ml/bert', 'v1', {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      configMediaType: MODEL_CONFIG,
      config: modelConfig('bert'),
      files: { 'README.md': README, 'weights.bin': WEIGHTS },
      annotations: { 'org.cairn.datasets': `ml/claims@${data.digest}` },
      headers: bearer(await token(reg.url, 'alice', PW, ['repository:ml/bert:pull,push'])),
    });
    expect(model.status).toBe(201);
    modelDigest = model.digest;
    const signed = await attachBundle(
      reg.url,
      'ml/bert',
      { digest: model.digest, size: model.size },
      await signStatement(release, model.digest, 'https://sigstore.dev/cosign/sign/v1'),
      'https://sigstore.dev/cosign/sign/v1',
      bearer(await token(reg.url, 'alice', PW, ['repository:ml/bert:pull,push'])),
    );
    expect(signed.status).toBe(201);
    // Governance rules are re-read within a second; the pushes above gave them that time.
    await new Promise((r) => setTimeout(r, 1200));
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await reg?.close();
  });

  it('sends browsers from / to the console, with a strict Content-Security-Policy and no framing', async () => {
    const r = await fetch(`${reg.url}/`, { redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/ui/');
    const page = await fetch(`${reg.url}/ui/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(await page.text()).not.toMatch(/<script>[^<]/);
  });

  it('signs in, searches, opens a model, renders its card inert, and downloads a file', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'alice');
    // Search as the user types, and by kind.
    await page.getByRole('searchbox', { name: 'Search' }).fill('claims');
    await page.getByRole('link', { name: /claims-2026/ }).waitFor();
    await page.getByRole('searchbox', { name: 'Search' }).fill('');
    await page.getByLabel('Kind').selectOption('dataset');
    await page.getByRole('link', { name: /claims-2026/ }).waitFor();
    expect(await page.locator('table.results tbody tr').count()).toBe(1);
    await page.getByLabel('Kind').selectOption('model,dataset');
    await page.getByRole('link', { name: 'bert 1.0' }).waitFor();
    expect(await page.locator('table.results tbody tr').count()).toBe(2);
    await shot(page, 'search');

    await openModel(page);
    await page.getByRole('link', { name: 'evaluation' }).waitFor();
    const card = page.locator('.markdown');
    expect(await card.locator('script, iframe, [onerror], [onbegin]').count()).toBe(0);
    expect(await card.locator('a[href^="javascript"]').count()).toBe(0);
    await page.waitForTimeout(1500);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(seenUrls.filter((u) => u.startsWith('dialog:'))).toEqual([]);

    // Tokens stay out of reach of page script and out of URLs.
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(await page.evaluate('localStorage.length + sessionStorage.length')).toBe(0);
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'cairn_console')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download weights.bin' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('weights.bin');
    expect((await readFile((await download.path())!)).equals(WEIGHTS)).toBe(true);
    // The download link works only with the session's cookie, and only for what the user may pull.
    const link = `${reg.url}${new URL(download.url()).pathname}`;
    expect(link).toMatch(/\/ui\/session\/download\/ml\/bert\/blobs\/sha256:/);
    expect((await fetch(link)).status).toBe(401);
    const session = (await context.cookies()).find((c) => c.name === 'cairn_console')!;
    const withCookie = { headers: { Cookie: `cairn_console=${session.value}` } };
    expect((await fetch(link, withCookie)).status).toBe(200);
    const other = link.replace('/ml/bert/', '/secret/bert/');
    const refused = await fetch(other, withCookie);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-disposition')).toBeNull();
    await context.close();
  });

  it('carries a model from draft to approved with two people; the pusher’s own approval is refused', async () => {
    const alice = await newPage();
    await signIn(alice.page, 'alice');
    await openModel(alice.page);
    await alice.page.getByRole('button', { name: 'Submit for review' }).click();
    await alice.page.getByRole('status').filter({ hasText: 'Moved to candidate' }).waitFor();
    await alice.page.getByRole('button', { name: 'Approve' }).click();
    const refusal = alice.page.getByRole('alert').filter({ hasText: 'Refused' });
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/four|pushed/i);
    await alice.context.close();

    const bob = await newPage();
    await signIn(bob.page, 'bob');
    await openModel(bob.page);
    await bob.page.getByRole('button', { name: 'Approve' }).click();
    await bob.page.getByRole('status').filter({ hasText: 'Moved to approved' }).waitFor();
    await bob.page.getByText(/since .* by user:bob/).waitFor();
    await bob.context.close();

    const r = await fetch(`${reg.url}/v2/ml/bert/_cairn/artifacts/${modelDigest}`, {
      headers: bearer(await token(reg.url, 'bob', PW, ['repository:ml/bert:pull'])),
    });
    expect(((await r.json()) as { stage: string }).stage).toBe('approved');
  });

  it('shows the history, receipt, quota and lineage graph; an approver marks the dataset compromised and sees the impact', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'bob');
    await openModel(page);
    await page.getByText(/user:alice\s+pushed as v1/).waitFor();
    await page.getByText(/user:bob\s+stage candidate → approved/).waitFor();
    await page.getByText('Trust policy (enforce): satisfied').waitFor();
    expect(await page.getByRole('list', { name: 'Signatures and attestations' }).textContent()).toMatch(
      /signature: verified and accepted.*key release/,
    );
    await page.getByRole('list', { name: 'Receipts' }).waitFor();
    await graphReady(page);
    await shot(page, 'model');
    await page.getByRole('button', { name: 'Show statement' }).first().click();
    expect(await page.getByLabel('Receipt statement').textContent()).toContain(modelDigest.replace('sha256:', ''));

    // The graph: the model's training data is a node, a link to its page.
    const graph = page.getByRole('group', { name: 'Lineage graph' });
    await graph.getByRole('link', { name: /claims-2026.*dataset/ }).click();
    await page.getByRole('heading', { name: /claims-2026/ }).waitFor();
    await page.getByRole('list', { name: 'Impact' }).getByRole('link', { name: /bert/ }).waitFor();

    await page.getByRole('button', { name: 'Mark compromised' }).click();
    await page.getByRole('alert').filter({ hasText: 'Say why' }).waitFor();
    await page.getByLabel('Why it is compromised').fill('labels leaked from the test split');
    await page.getByRole('button', { name: 'Mark compromised' }).click();
    await page.getByRole('alert').filter({ hasText: 'Marked compromised' }).waitFor();
    await page.getByText(/marked compromised: labels leaked/).waitFor();
    await shot(page, 'dataset-compromised');
    await context.close();

    // A reader may look, not mark: the server refuses and the page says so.
    const dave = await newPage();
    await signIn(dave.page, 'dave');
    await openModel(dave.page);
    await dave.page.getByLabel('Why it is compromised').fill('I think so');
    await dave.page.getByRole('button', { name: 'Mark compromised' }).click();
    await dave.page
      .getByRole('alert')
      .filter({ hasText: /Refused: .*may not approve/ })
      .waitFor();
    await dave.context.close();
  });

  it('asks for the TOTP code of an account with MFA, and sign-out ends the session on the server', async () => {
    const secret = newTotpSecret();
    await storeOf(reg).updateUser('carol', { totpSecret: secret, totpEnabled: true });
    const { context, page } = await newPage();
    await page.goto(`${reg.url}/`);
    await page.getByLabel('User name').fill('carol');
    await page.getByLabel('Password').fill(PW);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Code from your authenticator app').fill('000000');
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByRole('alert').filter({ hasText: 'wrong or expired code' }).waitFor();
    await page.getByLabel('Code from your authenticator app').fill(await totpNow(secret));
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByText('carol (MFA)').waitFor();

    const session = (await context.cookies()).find((c) => c.name === 'cairn_console')!;
    const withCookie = { 'X-Cairn-Console': '1', Cookie: `cairn_console=${session.value}` };
    expect((await fetch(`${reg.url}/ui/session`, { headers: withCookie })).status).toBe(200);
    // Without the console header (a cross-site form or image could not add it) the cookie is not enough.
    expect((await fetch(`${reg.url}/ui/session`, { headers: { Cookie: withCookie.Cookie } })).status).toBe(403);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect((await fetch(`${reg.url}/ui/session`, { headers: withCookie })).status).toBe(401);
    expect(
      (await fetch(`${reg.url}/ui/session/token`, { method: 'POST', headers: withCookie, body: '{}' })).status,
    ).toBe(401);
    await context.close();

    await reg.registry.audit.flush();
    const events = await reg.registry.audit.search({});
    // A refused sign-in is recorded under the name the client claimed, as the token endpoint does.
    expect(events.some((e) => e.type === 'login' && e.identity === 'carol' && e.decision === 'deny')).toBe(true);
    expect(events.some((e) => e.type === 'login' && e.identity === 'user:carol' && e.decision === 'allow')).toBe(true);
    expect(events.some((e) => e.type === 'logout' && e.identity === 'user:carol')).toBe(true);
  });

  it('lets an auditor find an event and verify it in the browser, step by step, and notices a doctored one', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'erin');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Repository').fill('ml/bert');
    await page.getByLabel('Identity (e.g. user:alice)').fill('user:bob');
    await page.getByRole('button', { name: 'Show events' }).click();
    const row = page.locator('tbody tr').filter({ hasText: 'user:bob' }).filter({ hasText: 'lifecycle.stage' }).first();
    await row.waitFor();
    const seq = Number(await row.locator('td').first().textContent());
    // A checkpoint is signed within a second of the last event.
    while (((await reg.registry.audit.latestCheckpoint())?.size ?? 0) <= seq) await page.waitForTimeout(200);

    await row.getByRole('button', { name: `Verify event ${seq}` }).click();
    const verdict = page.getByRole('status').filter({ hasText: `Event ${seq}` });
    await verdict.waitFor();
    expect(await verdict.textContent()).toContain('is in the signed log');
    await shot(page, 'audit-verified');
    await check(page, 'audit verification');
    const steps = page.getByRole('region', { name: `Verification of event ${seq}` }).locator('li');
    expect(await steps.allTextContents()).toEqual([
      expect.stringMatching(/passed: Fetched the published checkpoint key/),
      expect.stringMatching(/passed: Checkpoint signature \(Ed25519, WebCrypto\)/),
      expect.stringMatching(/passed: The event as listed is the one logged/),
      expect.stringMatching(/passed: Inclusion proof up to the signed root/),
      expect.stringMatching(/passed: Consistency.*no earlier checkpoint/),
    ]);

    // More events, a newer checkpoint: the second check proves the log only grew since the first.
    await fetch(`${reg.url}/v2/ml/bert/manifests/v1`, {
      headers: bearer(await token(reg.url, 'erin', PW, ['repository:ml/bert:pull'])),
    });
    const size = (await reg.registry.audit.latestCheckpoint())!.size;
    while (((await reg.registry.audit.latestCheckpoint())?.size ?? 0) <= size) await page.waitForTimeout(200);
    await page.getByLabel('Identity (e.g. user:alice)').fill('user:erin');
    await page.getByRole('button', { name: 'Show events' }).click();
    // The list is reloaded: wait for the new filter's rows before reading one.
    const first = page.locator('tbody tr').filter({ hasText: 'user:erin' }).filter({ hasText: 'pull' }).first();
    await first.waitFor();
    const newest = Number(await first.locator('td').first().textContent());
    await first.getByRole('button', { name: `Verify event ${newest}` }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Event ${newest} is in the signed log` })
      .waitFor();
    const again = page.getByRole('region', { name: `Verification of event ${newest}` }).locator('li');
    expect(await again.allTextContents()).toContainEqual(
      expect.stringMatching(
        /passed: Consistency with the checkpoint verified here before \(\d+ entries\)the log only grew/,
      ),
    );

    // A registry (or a proxy) that serves different bytes than it logged is caught by the page.
    await page.route('**/audit/entries?*', async (route) => {
      const r = await route.fetch();
      const body = (await r.json()) as { entries: { canonical: string }[] };
      body.entries[0]!.canonical = body.entries[0]!.canonical.replace('user:erin', 'user:mallory');
      await route.fulfill({ response: r, json: body });
    });
    await first.getByRole('button', { name: `Verify event ${newest}` }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Event ${newest} could not be verified` })
      .waitFor();
    await page.getByText('the listed event differs from the logged bytes').waitFor();
    await context.close();
  });

  it('administers users, role bindings and labels from an MFA session, and answers who may do what', async () => {
    // Without MFA the page says why, and the server refuses the API whatever the page does.
    const alice = await newPage();
    await signIn(alice.page, 'alice');
    expect(await alice.page.getByRole('link', { name: 'Administration' }).count()).toBe(0);
    await alice.page.goto(`${reg.url}/ui/#/admin`);
    await alice.page.getByRole('alert').filter({ hasText: 'needs a session signed in with MFA' }).waitFor();
    await alice.context.close();

    const secret = newTotpSecret();
    await storeOf(reg).updateUser('admin', { totpSecret: secret, totpEnabled: true });
    const { context, page } = await newPage();
    await page.goto(`${reg.url}/`);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill(await adminPassword(reg));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Code from your authenticator app').fill(await totpNow(secret));
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByRole('link', { name: 'Administration' }).click();

    const users = page.getByRole('region', { name: 'Users' });
    await users.getByLabel('New user').fill('frank');
    await users.getByLabel('Groups (comma-separated)').fill('ml-team');
    await users.getByRole('button', { name: 'Create' }).click();
    const created = await users.getByRole('status').textContent();
    const password = /Password \(shown once\): (\S+)/.exec(created ?? '')![1]!;
    await users.getByRole('cell', { name: 'frank', exact: true }).waitFor();

    const ask = async (who: string, action: string, on: string) => {
      const q = page.getByRole('region', { name: 'Who may do what' });
      await q.getByLabel('Who').fill(who);
      await q.getByLabel('May').selectOption(action);
      await q.getByLabel('Repository, namespace or *').fill(on);
      await q.getByRole('button', { name: 'Ask the policy' }).click();
      const answer = q.getByRole('status').filter({ hasText: `${who} ${action} ${on}: ` });
      await answer.waitFor();
      return (await answer.textContent())!.replace(`${who} ${action} ${on}: `, '');
    };
    expect(await ask('user:frank', 'pull', 'ml/bert')).toMatch(/^denied/);

    const roles = page.getByRole('region', { name: 'Role bindings' });
    await roles.getByLabel('Principal').fill('user:frank');
    await roles.getByLabel('Role').fill('reader');
    await roles.getByLabel('Scope').fill('ml/');
    await roles.getByRole('button', { name: 'Bind' }).click();
    await roles.getByRole('status').filter({ hasText: 'user:frank is reader on ml/' }).waitFor();
    expect(await ask('user:frank', 'pull', 'ml/bert')).toMatch(/^allowed by reader/);
    expect(await ask('user:frank', 'push', 'ml/bert')).toMatch(/^denied/);
    // What the page said is what the registry does: frank can now pull, with the password shown once.
    expect((await token(reg.url, 'frank', password, ['repository:ml/bert:pull'])).length).toBeGreaterThan(20);

    const labels = page.getByRole('region', { name: 'Labels' });
    await labels.getByLabel('Namespace or repository').fill('ml/');
    await labels.getByLabel('Sensitivity').fill('internal');
    await labels.getByRole('button', { name: 'Set labels' }).click();
    await labels.getByText('owner —, sensitivity internal').waitFor();

    await users.getByRole('button', { name: 'Disable frank' }).click();
    await users.getByRole('status').filter({ hasText: 'frank disabled' }).waitFor();
    await page
      .getByRole('region', { name: 'Token signing keys' })
      .getByText(/ES256|EdDSA|RS256/)
      .first()
      .waitFor();
    const rules = page.getByRole('region', { name: 'OIDC trust rules' });
    await rules.getByLabel('Rule name').fill('gha-main');
    await rules.getByLabel('Issuer').fill('https://token.actions.githubusercontent.com');
    await rules
      .getByLabel('Claims (claim=pattern, comma-separated)')
      .fill('repository=org/models, ref=refs/heads/main');
    await rules.getByRole('button', { name: 'Save rule' }).click();
    await rules.getByRole('listitem').filter({ hasText: 'oidc:gha-main' }).waitFor();
    const keys = page.getByRole('region', { name: 'Token signing keys' });
    await keys.getByRole('button', { name: 'Rotate signing key' }).click();
    await keys.getByRole('status').filter({ hasText: 'New tokens are signed with' }).waitFor();
    await check(page, 'administration');
    await shot(page, 'admin');
    await context.close();

    await reg.registry.audit.flush();
    const types = (await reg.registry.audit.search({ identity: 'user:admin' })).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['admin.users.add', 'admin.roles.bind', 'admin.labels.set', 'admin.user.disable']),
    );
  });

  it('has no serious or critical accessibility violation (axe-core) on its pages', async () => {
    const { context, page } = await newPage();
    await page.goto(`${reg.url}/`);
    await page.getByLabel('User name').waitFor();
    await check(page, 'sign-in');
    await signIn(page, 'bob');
    await page.getByRole('link', { name: 'bert 1.0' }).waitFor();
    await check(page, 'search');
    await openModel(page);
    await graphReady(page);
    await check(page, 'artifact');
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await check(page, 'audit');
    await context.close();
  });

  it('keeps the first page within its budget: at most 200 KB of JavaScript and CSS, gzipped', async () => {
    const html = await (await fetch(`${reg.url}/ui/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.sort()).toEqual(['/ui/app.js', '/ui/style.css']);
    let total = 0;
    for (const a of assets) total += gzipSync(await readFile(path.join(CONSOLE_DIR, path.basename(a)))).length;
    expect(total).toBeLessThanOrEqual(200 * 1024);
  });

  it('never puts a token or a session secret in a URL', () => {
    expect(seenUrls.length).toBeGreaterThan(10);
    for (const u of seenUrls) {
      expect(u).not.toMatch(/token=|access_token|eyJ[A-Za-z0-9_-]{10,}|cairn_rt_|rt_[A-Za-z0-9]{16}/);
    }
  });
});
