#!/usr/bin/env node
// The commy command line: agent, status, ls, prune, watch, route, metrics, demo.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { defaults } from '../defaults.js';
import { ExitCode, exitCodeFor } from './exit.js';
// Each command's module, and what it imports (the addon, the network stack,
// prom-client, pino), is loaded only when that command runs: `status` is a
// few milliseconds of work and must not pay for `agent`'s dependencies.

// Read as a file: a JSON require would start the CommonJS loader for nothing.
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function regionOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--cluster <name>', 'cluster name')
    .requiredOption('--server <id>', 'serverId of the node whose region to read')
    .option('--global', 'Windows: read the region in the Global\\ namespace')
    .option('--owner <user>', "the account that runs the node (default: yours); any other owner's region is refused");
}

/**
 * Runs a command. Long-running ones exit explicitly once they have cleaned up,
 * so a stray handle can never keep a stopped agent alive.
 */
async function run(action: () => number | Promise<number>, longRunning = false): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (err) {
    process.stderr.write(`commy: ${(err as Error).message}\n`);
    process.exitCode = exitCodeFor(err);
  }
  if (longRunning) process.exit();
}

const program = new Command('commy')
  .description('Cluster peer health over authenticated TCP heartbeats, readable from shared memory')
  .version(version)
  .showHelpAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 runtime error, 2 usage or config error, 3 no such region, 4 region writer not alive.',
  );

program
  .command('agent')
  .description('run a node from a JSON config file until SIGINT/SIGTERM')
  .requiredOption('--config <file>', 'JSON config file (see README)')
  .option('--metrics-listen <host:port>', 'serve Prometheus metrics (overrides metricsListen)')
  .action((o) => run(async () => (await import('./commands/agent.js')).agentCommand(o), true));

regionOptions(program.command('status'))
  .description("print a node's cluster state, read from its shared-memory region")
  .option('--json', 'print the JSON object of the status contract')
  .action((o) => run(async () => (await import('./commands/status.js')).statusCommand(o)));

program
  .command('ls')
  .description('list the commy regions on this host')
  .option('--json', 'print JSON')
  .option('--owner <user>', "list the regions of this account (default: yours); others' are skipped")
  .action((o) => run(async () => (await import('./commands/ls.js')).lsCommand(o)));

program
  .command('prune')
  .description("remove this account's regions whose writer is dead (a clean stop removes its own)")
  .option('--dry-run', 'only list them')
  .option('--cluster <name>', "only this cluster's regions")
  .action((o) => run(async () => (await import('./commands/prune.js')).pruneCommand(o)));

regionOptions(program.command('watch'))
  .description("live view of a node's cluster state, woken by each transition (prints them when not on a TTY)")
  .option('--interval <ms>', `poll every ms, not woken (default ${defaults.watchIntervalMs})`)
  .action((o) => run(async () => (await import('./commands/watch.js')).watchCommand(o), true));

regionOptions(program.command('route'))
  .description("print the owners of a key, best first, from a node's region (rendezvous hashing, docs/ROUTING.md)")
  .argument('<key>', 'the key (a session id, a user id, ...), hashed as UTF-8')
  .option('--replicas <n>', 'how many owners (default 1)')
  .option('--include <which>', '"healthy" (default) or "suspected": suspected members keep their keys too')
  .option('--json', 'print a JSON array of {serverId, address}')
  .action((key: string, o) => run(async () => (await import('./commands/route.js')).routeCommand(key, o)));

regionOptions(program.command('metrics'))
  .description("serve a node's state as Prometheus metrics, read from its region")
  .requiredOption('--listen <host:port>', 'address to serve /metrics on')
  .action((o) => run(async () => (await import('./commands/metrics.js')).metricsCommand(o), true));

program
  .command('demo')
  .description('3-node cluster on loopback: live state from shared memory, one node killed and restarted')
  .option('--duration <seconds>', 'total length of the demo (default 24)')
  .option('--nodes <n>', 'number of nodes, 2-8 (default 3)')
  .action((o) => run(async () => (await import('./commands/demo.js')).demoCommand(o), true));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    const ok =
      err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
    process.exitCode = ok ? ExitCode.Ok : ExitCode.Usage;
  } else {
    process.stderr.write(`commy: ${(err as Error).message}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
