import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestRegistry } from '../helpers/server';
import path from 'node:path';
import type { TestRegistry } from '../helpers/server';
import { addUser, adminPassword, bearer, startAuthRegistry, token, tokenResponse } from '../helpers/auth';

describe('the audit log with authentication on', () => {
  let reg: TestRegistry;
  let witness: string;
  beforeAll(async () => {
    witness = path.join(await mkdtemp(path.join(os.tmpdir(), 'cairn-witness-')), 'checkpoints');
    reg = await startAuthRegistry(undefined, {}, { audit: { checkpointSeconds: 3600, witness } });
    await addUser(reg, 'ada', 'ada-password-1234', [], [['auditor', '*']]);
    await addUser(reg, 'rex', 'rex-password-1234', [], [['reader', 'ml/']]);
  });
  afterAll(async () => {
    await reg.close();
    await rm(path.dirname(witness), { recursive: true, force: true });
  });

  it('records logins (allowed and refused, never the secret), denials and policy loads', async () => {
    await token(reg.url, 'admin', await adminPassword(reg), []);
    expect((await tokenResponse(reg.url, 'admin', 'not-the-password', [])).status).toBe(401);
    const rexToken = await token(reg.url, 'rex', 'rex-password-1234', ['repository:ml/x:pull']);
    expect(
      (await fetch(`${reg.url}/v2/ml/x/blobs/uploads/`, { method: 'POST', headers: bearer(rexToken) })).status,
    ).toBe(403);
    await reg.registry.audit.flush();
    const admin = await reg.registry.audit.search({ identity: 'user:admin' });
    expect(admin.filter((e) => e.type === 'login').map((e) => e.decision)).toContain('allow');
    const refused = await reg.registry.audit.search({ identity: 'admin' });
    expect(refused).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'login', decision: 'deny', source: expect.stringMatching(/127\.0\.0\.1/) }),
      ]),
    );
    const all = JSON.stringify(await reg.registry.audit.entries(0, await reg.registry.audit.size()));
    expect(all).not.toContain('not-the-password');
    expect(all).not.toContain(await adminPassword(reg));
    const rex = await reg.registry.audit.search({ identity: 'user:rex' });
    expect(rex).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'access.denied', action: 'push', repository: 'ml/x', decision: 'deny' }),
      ]),
    );
    expect(all).toContain('policy.load');
  });

  it('lets an auditor read the log, not a reader or an anonymous caller', async () => {
    await reg.registry.audit.checkpoint();
    expect((await fetch(`${reg.url}/audit/checkpoint`)).status).toBe(401);
    const rex = await token(reg.url, 'rex', 'rex-password-1234', []);
    expect((await fetch(`${reg.url}/audit/checkpoint`, { headers: bearer(rex) })).status).toBe(403);
    const ada = await token(reg.url, 'ada', 'ada-password-1234', []);
    const r = await fetch(`${reg.url}/audit/checkpoint`, { headers: bearer(ada) });
    expect(r.status).toBe(200);
    const note = await r.text();
    expect(note).toMatch(/^cairn\n\d+\n[A-Za-z0-9+/]+=*\n\n\u2014 cairn /);
    // Exported to the witness directory as it was signed.
    expect(await readFile(path.join(witness, 'checkpoint'), 'utf8')).toBe(note);
    const size = Number(note.split('\n')[1]);
    expect(await readFile(path.join(witness, `checkpoint.${size}`), 'utf8')).toBe(note);
    expect((await fetch(`${reg.url}/audit/events?identity=user:rex`, { headers: bearer(ada) })).status).toBe(200);
  });
});

describe('checkpoint export to an HTTP witness', () => {
  it('POSTs every new checkpoint to the witness URL', async () => {
    const received: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push(`${req.method} ${req.headers['content-type']} ${body}`);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      {
        audit: {
          checkpointSeconds: 3600,
          witness: `http://127.0.0.1:${(server.address() as AddressInfo).port}/checkpoints`,
        },
      },
    );
    try {
      await reg.registry.audit.append({ type: 'login', identity: 'user:x', decision: 'allow' });
      const first = await reg.registry.audit.checkpoint();
      await reg.registry.audit.append({ type: 'login', identity: 'user:y', decision: 'allow' });
      const second = await reg.registry.audit.checkpoint();
      expect(received).toEqual([`POST text/plain; charset=utf-8 ${first}`, `POST text/plain; charset=utf-8 ${second}`]);
    } finally {
      await reg.close();
      await new Promise((r) => server.close(r));
    }
  });
});
