import { SignJWT } from 'jose';
import { random, sha256 } from '../conformance/client';
import { totpNow } from '../../src/auth/totp';
import type { TestRegistry } from '../helpers/server';
import {
  accessOf,
  addUser,
  adminPassword,
  basic,
  bearer,
  policiesNow,
  startAuthRegistry,
  storeOf,
  token,
  tokenResponse,
} from '../helpers/auth';

const otpHeaders = async (user: string, password: string, secret: string) => ({
  Authorization: basic(user, password),
  'X-Cairn-OTP': await totpNow(secret),
  'Content-Type': 'application/json',
});

describe('MFA, personal access tokens, lockout, upload binding, visibility, key rotation', () => {
  let reg: TestRegistry;
  let base: string;
  beforeAll(async () => {
    reg = await startAuthRegistry(undefined, { lockout: { attempts: 3, lockSeconds: 60 } });
    base = reg.url;
    await addUser(
      reg,
      'mia',
      'mia-password-1234',
      ['ml'],
      [
        ['maintainer', 'ml/'],
        ['admin', '*'],
      ],
    );
  });
  afterAll(async () => reg.close());

  it('enrols TOTP; then only a personal access token obtained with password + code logs the human in, and it carries MFA', async () => {
    const enroll = await fetch(`${base}/auth/mfa/enroll`, {
      method: 'POST',
      headers: { Authorization: basic('mia', 'mia-password-1234') },
    });
    expect(enroll.status).toBe(200);
    const { secret, otpauthUri } = (await enroll.json()) as { secret: string; otpauthUri: string };
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/Cairn:mia\?secret=/);
    // Not yet confirmed: PATs are refused.
    expect(
      (
        await fetch(`${base}/auth/tokens`, {
          method: 'POST',
          headers: await otpHeaders('mia', 'mia-password-1234', secret),
          body: '{}',
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await fetch(`${base}/auth/mfa/confirm`, {
          method: 'POST',
          headers: { Authorization: basic('mia', 'mia-password-1234'), 'Content-Type': 'application/json' },
          body: JSON.stringify({ code: '000000' }),
        })
      ).status,
    ).toBe(401);
    const confirm = await fetch(`${base}/auth/mfa/confirm`, {
      method: 'POST',
      headers: { Authorization: basic('mia', 'mia-password-1234'), 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: await totpNow(secret) }),
    });
    expect(confirm.status).toBe(200);

    // The password alone no longer gets a registry token.
    const pw = await tokenResponse(base, 'mia', 'mia-password-1234', ['repository:ml/x:pull']);
    expect(pw.status).toBe(401);
    expect(((await pw.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(
      /personal access token/,
    );
    // Password + wrong code, or no code: refused.
    expect(
      (
        await fetch(`${base}/auth/tokens`, {
          method: 'POST',
          headers: { Authorization: basic('mia', 'mia-password-1234'), 'X-Cairn-OTP': '123456' },
          body: '{}',
        })
      ).status,
    ).toBe(401);
    const made = await fetch(`${base}/auth/tokens`, {
      method: 'POST',
      headers: await otpHeaders('mia', 'mia-password-1234', secret),
      body: JSON.stringify({ label: 'laptop', expiresInDays: 30 }),
    });
    expect(made.status).toBe(201);
    const pat = (await made.json()) as { id: string; token: string };
    expect(pat.token).toMatch(/^cairn_pat_/);

    const t = await token(base, 'mia', pat.token, ['repository:ml/x:pull,push']);
    expect(accessOf(t)[0]!.actions).toEqual(['pull', 'push']);
    expect(JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).mfa).toBe(true);
    // A PAT is the user's: it does not log in anyone else.
    expect((await tokenResponse(base, 'admin', pat.token, [])).status).toBe(401);

    // Admin actions need MFA: the MFA-backed token may, a password-only admin may not.
    const adminTok = await token(base, 'mia', pat.token, []);
    expect((await fetch(`${base}/admin/users`, { headers: bearer(adminTok) })).status).toBe(200);
    const plainAdmin = await token(base, 'admin', await adminPassword(reg), []);
    const denied = await fetch(`${base}/admin/users`, { headers: bearer(plainAdmin) });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/MFA/);

    // Listing and revoking: a revoked PAT stops logging in and stops the tokens it minted.
    const listed = (await (
      await fetch(`${base}/auth/tokens`, { headers: await otpHeaders('mia', 'mia-password-1234', secret) })
    ).json()) as { tokens: { id: string; label: string }[] };
    expect(listed.tokens).toEqual([expect.objectContaining({ id: pat.id, label: 'laptop' })]);
    expect(
      (
        await fetch(`${base}/auth/tokens/${pat.id}`, {
          method: 'DELETE',
          headers: await otpHeaders('mia', 'mia-password-1234', secret),
        })
      ).status,
    ).toBe(204);
    expect((await tokenResponse(base, 'mia', pat.token, [])).status).toBe(401);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await fetch(`${base}/v2/ml/x/tags/list`, { headers: bearer(t) })).status).toBe(401);
  });

  it('locks an account after repeated failures, even for the right password', async () => {
    await addUser(reg, 'leo', 'leo-password-1234', [], [['reader', 'ml/']]);
    for (let i = 0; i < 3; i++) expect((await tokenResponse(base, 'leo', `wrong-${i}`, [])).status).toBe(401);
    const locked = await tokenResponse(base, 'leo', 'leo-password-1234', []);
    expect(locked.status).toBe(401);
    expect(((await locked.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/locked/);
    expect((await storeOf(reg).getUser('leo'))!.lockedUntil).toBeGreaterThan(Date.now());
  });

  it('keeps a long upload going after its token expired, for the identity that opened it only', async () => {
    await addUser(reg, 'uma', 'uma-password-1234', [], [['publisher', 'ml/']]);
    await addUser(reg, 'ian', 'ian-password-1234', [], [['publisher', 'ml/']]);
    const t = await token(base, 'uma', 'uma-password-1234', ['repository:ml/big:pull,push']);
    const open = await fetch(`${base}/v2/ml/big/blobs/uploads/`, { method: 'POST', headers: bearer(t) });
    expect(open.status).toBe(202);
    const location = open.headers.get('location')!;
    const data = random(200_000);
    const first = await fetch(new URL(location, base), {
      method: 'PATCH',
      body: data.subarray(0, 100_000),
      headers: { ...bearer(t), 'Content-Range': '0-99999' },
    });
    expect(first.status).toBe(202);
    // The same claims, signed by the registry, but expired a minute ago: as the first token will be mid-push.
    const payload = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());
    const signing = await reg.registry.auth!.keys.signingKey();
    if (!('key' in signing)) throw new Error('a database key was expected');
    const { kid, key } = signing;
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...payload, iat: now - 400, nbf: now - 400, exp: now - 60 })
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(key);
    const next = first.headers.get('location')!;
    const second = await fetch(new URL(next, base), {
      method: 'PATCH',
      body: data.subarray(100_000),
      headers: { ...bearer(expired), 'Content-Range': '100000-199999' },
    });
    expect(second.status).toBe(202);
    // An expired token is good for nothing else.
    expect((await fetch(`${base}/v2/ml/big/tags/list`, { headers: bearer(expired) })).status).toBe(401);
    expect((await fetch(`${base}/v2/ml/big/blobs/uploads/`, { method: 'POST', headers: bearer(expired) })).status).toBe(
      401,
    );
    // Another identity with push rights may not write into it.
    const other = await token(base, 'ian', 'ian-password-1234', ['repository:ml/big:pull,push']);
    const hijack = await fetch(new URL(second.headers.get('location')!, base), {
      method: 'PATCH',
      body: random(10),
      headers: { ...bearer(other), 'Content-Range': '200000-200009' },
    });
    expect(hijack.status).toBe(403);
    const finishAsOther = new URL(second.headers.get('location')!, base);
    finishAsOther.searchParams.set('digest', sha256(data));
    expect((await fetch(finishAsOther, { method: 'PUT', headers: bearer(other) })).status).toBe(403);
    const done = new URL(second.headers.get('location')!, base);
    done.searchParams.set('digest', sha256(data));
    expect((await fetch(done, { method: 'PUT', headers: bearer(expired) })).status).toBe(201);
    // Disabling the owner stops even the bound upload.
    const open2 = await fetch(`${base}/v2/ml/big/blobs/uploads/`, { method: 'POST', headers: bearer(t) });
    await storeOf(reg).updateUser('uma', { disabled: true });
    await new Promise((r) => setTimeout(r, 1100));
    expect(
      (
        await fetch(new URL(open2.headers.get('location')!, base), {
          method: 'PATCH',
          body: data,
          headers: bearer(expired),
        })
      ).status,
    ).toBe(401);
  });

  it('shows in _catalog only what the caller may pull, and mounts only from repositories it may pull', async () => {
    const adminTok = await token(base, 'admin', await adminPassword(reg), [
      'repository:ml/a:push,pull',
      'repository:secret/b:push,pull',
    ]);
    const blob = random(5000);
    for (const repo of ['ml/a', 'secret/b']) {
      expect(
        (
          await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
            method: 'POST',
            body: blob,
            headers: bearer(adminTok),
          })
        ).status,
      ).toBe(201);
    }
    await addUser(reg, 'cat', 'cat-password-1234', [], [['publisher', 'ml/']]);
    const t = await token(base, 'cat', 'cat-password-1234', [
      'registry:catalog:*',
      'repository:ml/c:push,pull',
      'repository:secret/b:pull',
    ]);
    const list = (await (await fetch(`${base}/v2/_catalog`, { headers: bearer(t) })).json()) as {
      repositories: string[];
    };
    expect(list.repositories).toContain('ml/a');
    expect(list.repositories.some((r) => r.startsWith('secret/'))).toBe(false);
    // Paginated: n=1 pages still skip what is hidden.
    const page = await fetch(`${base}/v2/_catalog?n=1`, { headers: bearer(t) });
    expect(
      ((await page.json()) as { repositories: string[] }).repositories.every((r) => !r.startsWith('secret/')),
    ).toBe(true);
    // The catalog needs a token asked for it.
    const plain = await token(base, 'cat', 'cat-password-1234', ['repository:ml/c:pull']);
    expect((await fetch(`${base}/v2/_catalog`, { headers: bearer(plain) })).status).toBe(401);
    // Mount from a repository it cannot pull: an ordinary upload session (202), nothing linked.
    const fromSecret = await fetch(`${base}/v2/ml/c/blobs/uploads/?mount=${sha256(blob)}&from=secret/b`, {
      method: 'POST',
      headers: bearer(t),
    });
    expect(fromSecret.status).toBe(202);
    expect((await fetch(`${base}/v2/ml/c/blobs/${sha256(blob)}`, { method: 'HEAD', headers: bearer(t) })).status).toBe(
      404,
    );
    // From one it can pull (and asked for), the mount happens.
    const t2 = await token(base, 'cat', 'cat-password-1234', ['repository:ml/c:push,pull', 'repository:ml/a:pull']);
    const fromMl = await fetch(`${base}/v2/ml/c/blobs/uploads/?mount=${sha256(blob)}&from=ml/a`, {
      method: 'POST',
      headers: bearer(t2),
    });
    expect(fromMl.status).toBe(201);
  });

  it('serves anonymous pulls only where a binding allows them', async () => {
    const adminTok = await token(base, 'admin', await adminPassword(reg), ['repository:public/m:push,pull']);
    const blob = random(100);
    await fetch(`${base}/v2/public/m/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      body: blob,
      headers: bearer(adminTok),
    });
    expect((await fetch(`${base}/v2/public/m/blobs/${sha256(blob)}`)).status).toBe(401);
    await storeOf(reg).bindRole({ principal: 'anonymous', role: 'reader', scope: 'public/' });
    await policiesNow(reg);
    const got = await fetch(`${base}/v2/public/m/blobs/${sha256(blob)}`);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(blob)).toBe(true);
    expect((await fetch(`${base}/v2/public/m/blobs/uploads/`, { method: 'POST' })).status).toBe(401);
    const anonToken = await token(base, undefined, undefined, ['repository:public/m:pull,push']);
    expect(accessOf(anonToken)[0]!.actions).toEqual(['pull']);
  });

  it('rotates signing keys: old tokens keep working until they expire, new ones carry the new kid', async () => {
    const old = await token(base, 'admin', await adminPassword(reg), ['repository:ml/a:pull']);
    const oldKid = JSON.parse(Buffer.from(old.split('.')[0]!, 'base64url').toString()).kid;
    const newKid = await reg.registry.auth!.keys.rotate();
    expect(newKid).not.toBe(oldKid);
    const fresh = await token(base, 'admin', await adminPassword(reg), ['repository:ml/a:pull']);
    expect(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid).toBe(newKid);
    for (const t of [old, fresh])
      expect((await fetch(`${base}/v2/ml/a/tags/list`, { headers: bearer(t) })).status).not.toBe(401);
    const kids = (await storeOf(reg).listSigningKeys()).map((k) => [k.kid, k.retiredAt !== undefined]);
    expect(kids).toEqual(
      expect.arrayContaining([
        [oldKid, true],
        [newKid, false],
      ]),
    );
  });
});
