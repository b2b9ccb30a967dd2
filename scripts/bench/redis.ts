// Starts a throwaway redis-server on 127.0.0.1 (a free port, no persistence)
// when one is installed, and connects ioredis to it, as an application would;
// the benchmarks that compare against Redis skip that case, and say so, when
// it is not installed.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { freePort } from '../../harness/loopback.js';
import { spawnTracked, stopProcess } from '../../harness/processes.js';
import { waitFor } from '../../harness/wait.js';
import { log, which } from './common.js';

/** The ioredis version in node_modules, for the report. */
export const ioredisVersion: string = (createRequire(import.meta.url)('ioredis/package.json') as { version: string })
  .version;

export interface RedisHandle {
  port: number;
  version: string;
  stop(): Promise<void>;
}

/** An ioredis client on 127.0.0.1:port that fails at once rather than retrying (the server is local or absent). */
export async function connectRedis(port: number): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null });
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw err;
  }
  return client;
}

export async function startRedis(): Promise<RedisHandle | null> {
  const bin = which('redis-server');
  if (!bin) {
    log('redis-server is not installed: the Redis case is skipped (apt-get install redis-server to include it)');
    return null;
  }
  let version = 'unknown';
  try {
    version = /v=([\d.]+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8' }))?.[1] ?? version;
  } catch {
    // keep "unknown"
  }
  const port = await freePort();
  const proc = spawnTracked(bin, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'yes',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ]);
  await waitFor(
    async () => {
      const c = await connectRedis(port);
      try {
        return (await c.ping()) === 'PONG';
      } finally {
        c.disconnect();
      }
    },
    { timeoutMs: 10_000, intervalMs: 5, what: `redis-server on port ${port}` },
  );
  return { port, version, stop: () => stopProcess(proc) };
}
