import type { Browser } from 'playwright-core';
import type { TestRegistry } from '../helpers/server';
import { addUser, startAuthRegistry, storeOf } from '../helpers/auth';
import { launchChromium } from '../helpers/browser';
import { startOpenIdProvider } from '../helpers/openid-provider';
import { SSO_PASSWORD_HASH } from '../../src/auth/people-sso';

describe('console single sign-on: OpenID Connect authorization code with PKCE, in a real browser', () => {
  let reg: TestRegistry;
  let idp: Awaited<ReturnType<typeof startOpenIdProvider>>;
  let browser: Browser;

  beforeAll(async () => {
    idp = await startOpenIdProvider('cairn-console');
    reg = await startAuthRegistry(undefined, {
      allowHttpIssuers: true,
      sso: { issuer: idp.issuer, clientId: 'cairn-console', displayName: 'Example ID' },
    });
    await addUser(reg, 'alice', 'alice-password-1234', [], [['maintainer', 'ml/']]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await reg?.close();
    await idp?.close();
  });

  it('signs a person in through the provider, with PKCE, and makes their account with the provider’s groups', async () => {
    idp.signInAs({ preferred_username: 'nina', groups: ['ml-reviewers'], amr: ['pwd', 'otp'] });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${reg.url}/`);
    await page.getByRole('link', { name: 'Sign in with Example ID' }).click();
    await page.getByText('nina (MFA)').waitFor();

    const asked = idp.seen.authorize.at(-1)!;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('redirect_uri')).toBe(`${reg.url}/ui/sso/callback`);
    expect(asked.get('scope')).toContain('openid');
    expect(idp.seen.token.at(-1)!.get('code_verifier')!.length).toBeGreaterThanOrEqual(43);
    const nina = await storeOf(reg).getUser('nina');
    expect(nina).toMatchObject({ groups: ['ml-reviewers'], passwordHash: SSO_PASSWORD_HASH, disabled: false });
    // No password ever logs this account in.
    expect(
      (
        await fetch(`${reg.url}/token?service=cairn`, {
          headers: { Authorization: `Basic ${Buffer.from(`nina:${SSO_PASSWORD_HASH}`).toString('base64')}` },
        })
      ).status,
    ).toBe(401);
    // Groups follow the provider at each sign-in; sign-out ends the session.
    await page.getByRole('button', { name: 'Sign out' }).click();
    idp.signInAs({ preferred_username: 'nina', groups: ['ml-reviewers', 'auditors'], amr: ['pwd'] });
    await page.getByRole('link', { name: 'Sign in with Example ID' }).click();
    await page.getByText(/^nina$/).waitFor();
    expect((await storeOf(reg).getUser('nina'))!.groups).toEqual(['ml-reviewers', 'auditors']);
    await context.close();
  });

  it('never takes over a local account with a password, and says why on the sign-in page', async () => {
    idp.signInAs({ preferred_username: 'alice', amr: ['pwd'] });
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${reg.url}/`);
    await page.getByRole('link', { name: 'Sign in with Example ID' }).click();
    await page.getByRole('alert').filter({ hasText: 'alice is a local account' }).waitFor();
    await page.getByLabel('User name').waitFor();
  });

  it('refuses a callback this browser did not start, a bad user name, and a disabled account', async () => {
    const page = await (await browser.newContext()).newPage();
    // A code and state from someone else's sign-in (login CSRF): no transaction cookie here.
    await page.goto(`${reg.url}/ui/sso/callback?code=abc&state=xyz`);
    await page.getByRole('alert').filter({ hasText: 'start again' }).waitFor();

    idp.signInAs({ preferred_username: 'Not A Name!' });
    await page.getByRole('link', { name: 'Sign in with Example ID' }).click();
    await page.getByRole('alert').filter({ hasText: 'not a valid user name' }).waitFor();

    await storeOf(reg).updateUser('nina', { disabled: true });
    idp.signInAs({ preferred_username: 'nina' });
    await page.goto(`${reg.url}/`);
    await page.getByRole('link', { name: 'Sign in with Example ID' }).click();
    await page.getByRole('alert').filter({ hasText: 'this account is disabled' }).waitFor();

    await reg.registry.audit.flush();
    const denied = (await reg.registry.audit.search({ identity: 'anonymous' })).filter(
      (e) => e.type === 'login' && e.decision === 'deny' && e.detail?.method === 'sso',
    );
    expect(denied.length).toBeGreaterThanOrEqual(3);
  });
});
