/** A description of the machine the bench ran on. */

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { root } from './options.ts';
import { adminQuery } from './postgres.ts';

export async function machine(pgAdminUrl: string, withPostgres: boolean): Promise<Record<string, unknown>> {
  const mem = new DatabaseSync(':memory:');
  const sqliteVersion = (mem.prepare('select sqlite_version() as v').get() as { v: string }).v;
  mem.close();
  let nproc: number | string = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // keep availableParallelism
  }
  let gitCommit = 'unknown';
  let gitDirty = false;
  try {
    gitCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    gitDirty =
      execFileSync('git', ['status', '--porcelain', 'src'], { cwd: root, encoding: 'utf8' }).trim() !== '';
  } catch {
    // not a git checkout
  }
  let postgresVersion: string | undefined;
  let postgresSettings: Record<string, string> | undefined;
  if (withPostgres) {
    postgresVersion = (await adminQuery(pgAdminUrl, 'select version() as v')).rows[0].v as string;
    const rows = (
      await adminQuery(
        pgAdminUrl,
        `select name, setting from pg_settings where name in
         ('autovacuum','fsync','synchronous_commit','wal_sync_method','shared_buffers','max_connections','commit_delay')`,
      )
    ).rows as Array<{ name: string; setting: string }>;
    postgresSettings = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  }
  return {
    nproc,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    nodePath: process.execPath,
    sqliteVersion,
    postgresVersion,
    postgresSettings,
    tmpdir: os.tmpdir(),
    gitCommit,
    srcHasUncommittedChanges: gitDirty,
  };
}
