import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from './ports';

export interface PgPair {
  /** postgres:// URLs of the database `cairn` on the primary and on its hot standby. */
  primaryUrl: string;
  standbyUrl: string;
  /** Resolves once the standby has replayed everything the primary has written so far. */
  caughtUp(): Promise<void>;
  close(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  return path.join(root, version, 'bin');
}

/** Runs a PostgreSQL binary as the postgres user (the server refuses to run as root). */
function pgRun(bin: string, args: string[]): void {
  const full = path.join(binDir(), bin);
  if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', full, ...args], { stdio: 'pipe' });
  else execFileSync(full, args, { stdio: 'pipe' });
}

async function query(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}

/**
 * A PostgreSQL primary of the test's own (initdb in a temporary directory, trust on loopback, replication
 * allowed) and a hot standby made from it with `pg_basebackup -R`, each on a free loopback port. The
 * machine's shared server is not touched: its pg_hba.conf allows no replication connections.
 */
export async function startPgPair(): Promise<PgPair> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const primary = path.join(dir, 'primary');
  const standby = path.join(dir, 'standby');
  const [p1, p2] = [await freePort(), await freePort()];
  const started: string[] = [];
  const stop = () => {
    for (const d of started.reverse()) {
      try {
        pgRun('pg_ctl', ['-D', d, '-m', 'immediate', 'stop']);
      } catch {
        // already stopped
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // -N: no fsync of a throwaway cluster.
    pgRun('initdb', ['-D', primary, '-A', 'trust', '-U', 'postgres', '-N']);
    await appendFile(
      path.join(primary, 'postgresql.conf'),
      `listen_addresses = '127.0.0.1'\nport = ${p1}\nunix_socket_directories = '${dir}'\nfsync = off\n`,
    );
    await appendFile(path.join(primary, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
    pgRun('pg_ctl', ['-D', primary, '-l', path.join(dir, 'primary.log'), '-w', 'start']);
    started.push(primary);
    const admin = `postgres://postgres@127.0.0.1:${p1}/postgres`;
    await query(admin, 'create database cairn');
    pgRun('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(p1),
      '-U',
      'postgres',
      '-D',
      standby,
      '-R',
      '-X',
      'stream',
      // Start at once instead of after a spread checkpoint (minutes after the CREATE DATABASE above).
      '-c',
      'fast',
    ]);
    await appendFile(path.join(standby, 'postgresql.conf'), `port = ${p2}\n`);
    if (!existsSync(path.join(standby, 'standby.signal'))) throw new Error('pg_basebackup -R wrote no standby.signal');
    pgRun('pg_ctl', ['-D', standby, '-l', path.join(dir, 'standby.log'), '-w', 'start']);
    started.push(standby);
  } catch (err) {
    stop();
    throw err;
  }
  const primaryUrl = `postgres://postgres@127.0.0.1:${p1}/cairn`;
  const standbyUrl = `postgres://postgres@127.0.0.1:${p2}/cairn`;
  return {
    primaryUrl,
    standbyUrl,
    caughtUp: async () => {
      const [{ lsn }] = (await query(primaryUrl, 'select pg_current_wal_lsn()::text as lsn')) as [{ lsn: string }];
      for (let i = 0; i < 300; i++) {
        const [row] = await query(standbyUrl, 'select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [lsn]);
        if (row?.ok) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the standby did not catch up with the primary');
    },
    close: async () => stop(),
  };
}
