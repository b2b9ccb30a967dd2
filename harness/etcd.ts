// Harness (shared by test/ and scripts/; see harness/README.md): a real single-member etcd (Debian's
// `etcd-server`, /usr/bin/etcd) on free loopback ports with a temporary data dir. `stop()` and `start()`
// simulate an outage (the data dir stays, so leases and keys survive it); `remove()` ends it and deletes
// everything. Without an etcd binary, `etcdBinary()` is undefined and the tests skip saying why.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  /** "http://127.0.0.1:port" ("https://" with TLS), for a provider's `endpoints`. */
  endpoint: string;
  /** With TLS: the CA that signed the server's certificate, and a client certificate it requires. */
  tls?: { ca: string; cert: string; key: string };
  start(): Promise<void>;
  /** Kills the server (SIGKILL: an outage, not a clean shutdown); its data stays for start(). */
  stop(): Promise<void>;
  remove(): Promise<void>;
}

export interface EtcdOptions {
  /** Serve clients over TLS with a fresh CA (openssl), and require a client certificate. */
  tls?: boolean;
  /** Enable etcd's authentication with this user (root role) and password. */
  auth?: { username: string; password: string };
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in `dir`. */
function makeCertificates(dir: string): {
  ca: string;
  cert: string;
  key: string;
  serverCert: string;
  serverKey: string;
} {
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=commy-test-ca',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1|extendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ]) {
    writeFileSync(f(`${name}.ext`), ext.split('|').join('\n'));
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
      '-subj',
      `/CN=commy-test-${name}`,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.pem`),
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
    );
  }
  return {
    ca: f('ca.pem'),
    cert: f('client.pem'),
    key: f('client.key'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
  };
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  const binary = etcdBinary();
  if (!binary) throw new Error('no etcd binary (apt-get install etcd-server)');
  const [client, peer] = await freePorts(2);
  const dir = mkdtempSync(join(tmpdir(), 'commy-etcd-'));
  const certs = opts.tls ? makeCertificates(dir) : undefined;
  const endpoint = `${certs ? 'https' : 'http'}://127.0.0.1:${client}`;
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
    ...(certs
      ? [
          `--cert-file=${certs.serverCert}`,
          `--key-file=${certs.serverKey}`,
          `--trusted-ca-file=${certs.ca}`,
          '--client-cert-auth',
        ]
      : []),
  ];
  const t: TestEtcd = {
    endpoint,
    ...(certs ? { tls: { ca: certs.ca, cert: certs.cert, key: certs.key } } : {}),
    start: async () => {
      proc = spawnTracked(binary, args, { stdio: 'ignore' });
      const running = proc;
      await waitFor(
        async () => {
          if (running.exitCode !== null) throw new Error(`etcd exited with ${running.exitCode}`);
          return await healthy();
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
  // With TLS, fetch() cannot present a client certificate: ask through the etcd3 client instead.
  let authOn = false;
  const connect = async () => {
    const { Etcd3 } = await import('etcd3');
    return new Etcd3({
      hosts: endpoint,
      dialTimeout: 1000,
      ...(authOn && opts.auth ? { auth: opts.auth } : {}),
      ...(certs
        ? {
            credentials: {
              rootCertificate: readFileSync(certs.ca),
              privateKey: readFileSync(certs.key),
              certChain: readFileSync(certs.cert),
            },
          }
        : {}),
    });
  };
  const healthy = async () => {
    const c = await connect();
    try {
      await c.get('health').string();
      return true;
    } catch {
      return false;
    } finally {
      c.close();
    }
  };
  try {
    await t.start();
    if (opts.auth) {
      const c = await connect();
      try {
        await c
          .role('root')
          .create()
          .catch(() => undefined); // 3.4 may have it already
        // etcd enables authentication only once a "root" user exists; the test's user gets the root role too.
        if (opts.auth.username !== 'root')
          await (await c.user('root').create(`${opts.auth.password}-root`)).addRole('root');
        await (await c.user(opts.auth.username).create(opts.auth.password)).addRole('root');
        await c.auth.authEnable();
        authOn = true;
      } finally {
        c.close();
      }
    }
  } catch (err) {
    await t.remove();
    throw err;
  }
  return t;
}
