// Harness (shared by test/ and scripts/; see harness/README.md): a real single-member etcd (Debian's
// `etcd-server`, /usr/bin/etcd) on free loopback ports with a temporary data dir. `stop()` and `start()`
// simulate an outage (the data dir stays, so leases and keys survive it); `remove()` ends it and deletes
// everything. Without an etcd binary, `etcdBinary()` is undefined and the tests skip saying why.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePorts } from './loopback.js';
import { spawnTracked } from './processes.js';
import { waitFor } from './wait.js';

export function etcdBinary(): string | undefined {
  const candidates = [process.env.COMMY_ETCD, '/usr/bin/etcd', '/usr/local/bin/etcd'];
  return candidates.find((c): c is string => c !== undefined && existsSync(c));
}

export interface TestEtcd {
  /** "http://127.0.0.1:port", for a provider's `endpoints`. */
  endpoint: string;
  start(): Promise<void>;
  /** Kills the server (SIGKILL: an outage, not a clean shutdown); its data stays for start(). */
  stop(): Promise<void>;
  remove(): Promise<void>;
}

export async function startEtcd(): Promise<TestEtcd> {
  const binary = etcdBinary();
  if (!binary) throw new Error('no etcd binary (apt-get install etcd-server)');
  const [client, peer] = await freePorts(2);
  const dir = mkdtempSync(join(tmpdir(), 'commy-etcd-'));
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  let proc: ChildProcess | undefined;
  const args = [
    '--name=test',
    `--data-dir=${join(dir, 'data')}`,
    `--listen-client-urls=${endpoint}`,
    `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=test=${peerUrl}`,
    '--log-level=error',
  ];
  const t: TestEtcd = {
    endpoint,
    start: async () => {
      proc = spawnTracked(binary, args, { stdio: 'ignore' });
      const running = proc;
      await waitFor(
        async () => {
          if (running.exitCode !== null) throw new Error(`etcd exited with ${running.exitCode}`);
          const r = await fetch(`${endpoint}/health`).catch(() => undefined);
          return r?.ok === true;
        },
        { timeoutMs: 20_000, intervalMs: 50, what: `etcd to answer on ${endpoint}` },
      );
    },
    stop: async () => {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    },
    remove: async () => {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await t.start();
  } catch (err) {
    await t.remove();
    throw err;
  }
  return t;
}
