// PeerConfig parsing: the README's file format, defaults, and an error that
// names the field for every invalid value.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig, parseConfig } from '../lib/registry/config.js';
import { ConfigError } from '../lib/errors.js';

const base = {
  cluster: 'demo',
  serverId: 'a',
  listen: '127.0.0.1:7101',
  peers: ['b@127.0.0.1:7102', { serverId: 'c', address: '127.0.0.1:7103' }],
  secretFile: './secret',
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 1000,
  suspectAfter: 2,
  downAfter: 5,
  metricsListen: '127.0.0.1:9464',
};

function fieldOf(input: unknown): string {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).code).to.equal('ERR_CONFIG');
    expect((err as Error).message).to.contain(`"${(err as ConfigError).field}"`);
    return (err as ConfigError).field;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('parseConfig', () => {
  it('parses a config file with both peer forms, a secret file, timings and metrics', () => {
    const c = parseConfig(base, { baseDir: '/etc/commy' });
    expect(c).to.deep.include({
      cluster: 'demo',
      serverId: 'a',
      listenAddress: '127.0.0.1:7101',
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 1000,
      suspectAfter: 2,
      downAfter: 5,
      metricsListen: '127.0.0.1:9464',
    });
    expect(c.staticPeers).to.deep.equal([
      { serverId: 'b', address: '127.0.0.1:7102' },
      { serverId: 'c', address: '127.0.0.1:7103' },
    ]);
    expect(c.secretFile).to.equal(resolve('/etc/commy', 'secret')); // absolute on the current drive on Windows
  });

  it('applies defaults and accepts plain host:port peers and IPv6', () => {
    const c = parseConfig({ cluster: 'x', serverId: 'a', listen: '[::1]:0', peers: ['[::1]:7102', 'db-2.local:7000'] });
    expect(c).to.include({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 1000, suspectAfter: 2, downAfter: 5 });
    expect(c.staticPeers).to.deep.equal([{ address: '[::1]:7102' }, { address: 'db-2.local:7000' }]);
  });

  it('accepts a JSON string and names a syntax error', () => {
    expect(parseConfig(JSON.stringify(base)).serverId).to.equal('a');
    expect(fieldOf('{"cluster":')).to.equal('(file)');
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['unknown field', { colour: 'red' }, 'colour'],
    ['missing cluster', { cluster: undefined }, 'cluster'],
    ['empty cluster', { cluster: '' }, 'cluster'],
    ['cluster too long', { cluster: 'c'.repeat(64) }, 'cluster'],
    ['cluster bad chars', { cluster: 'a/b' }, 'cluster'],
    ['serverId not a string', { serverId: 7 }, 'serverId'],
    ['listen without port', { listen: 'localhost' }, 'listen'],
    ['listen port too big', { listen: '127.0.0.1:70000' }, 'listen'],
    ['listen bad IPv6', { listen: '[zz]:1' }, 'listen'],
    ['peers not an array', { peers: 'b@x:1' }, 'peers'],
    ['peer id empty', { peers: ['@127.0.0.1:1'] }, 'peers[0].serverId'],
    ['peer address bad', { peers: ['b@127.0.0.1'] }, 'peers[0].address'],
    ['peer port zero', { peers: ['127.0.0.1:0'] }, 'peers[0]'],
    ['peer object unknown key', { peers: [{ serverId: 'b', address: 'h:1', zone: 'x' }] }, 'peers[0].zone'],
    ['peer object without address', { peers: [{ serverId: 'b' }] }, 'peers[0].address'],
    ['peer of wrong type', { peers: [42] }, 'peers[0]'],
    ['peer equals own id', { peers: ['a@127.0.0.1:7102'] }, 'peers[0].serverId'],
    ['duplicate peer id', { peers: ['b@h:1', 'b@h:2'] }, 'peers[1].serverId'],
    ['duplicate peer address', { peers: ['b@h:1', 'c@h:1'] }, 'peers[1].address'],
    ['interval zero', { heartbeatIntervalMs: 0 }, 'heartbeatIntervalMs'],
    ['interval fractional', { heartbeatIntervalMs: 1.5 }, 'heartbeatIntervalMs'],
    ['timeout negative', { heartbeatTimeoutMs: -1 }, 'heartbeatTimeoutMs'],
    ['suspectAfter zero', { suspectAfter: 0 }, 'suspectAfter'],
    ['downAfter equal to suspectAfter', { suspectAfter: 3, downAfter: 3 }, 'downAfter'],
    ['downAfter below suspectAfter', { suspectAfter: 4, downAfter: 3 }, 'downAfter'],
    ['capacity too large', { capacity: 5000 }, 'capacity'],
    ['more peers than capacity', { capacity: 1 }, 'peers'],
    ['secretFile empty', { secretFile: '' }, 'secretFile'],
    ['secret too short', { secret: 'short' }, 'secret'],
    ['metricsListen bad', { metricsListen: 'nope' }, 'metricsListen'],
    ['global not boolean', { global: 'yes' }, 'global'],
    ['allowUnencryptedPeers not boolean', { allowUnencryptedPeers: 1 }, 'allowUnencryptedPeers'],
    ['readers not a string', { readers: 100 }, 'readers'],
    ['readers empty', { readers: '' }, 'readers'],
    ['readers with a control character', { readers: 'staff\nroot' }, 'readers'],
  ];
  for (const [what, patch, field] of cases) {
    it(`rejects ${what}, naming "${field}"`, () => {
      expect(fieldOf({ ...base, ...patch })).to.equal(field);
    });
  }

  it('allowUnencryptedPeers is off unless set to true', () => {
    expect(parseConfig(base).allowUnencryptedPeers).to.equal(undefined);
    expect(parseConfig({ ...base, allowUnencryptedPeers: true }).allowUnencryptedPeers).to.equal(true);
  });

  it('keeps readers as given (the OS resolves it when the region is created)', () => {
    expect(parseConfig({ ...base, readers: 'commy-readers' }).readers).to.equal('commy-readers');
    expect(parseConfig(base).readers).to.equal(undefined);
  });

  it('rejects a non-object root', () => {
    expect(fieldOf([1, 2])).to.equal('(root)');
    expect(fieldOf(null)).to.equal('(root)');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'commy-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and resolves secretFile against its folder', () => {
    const path = join(dir, 'node.json');
    writeFileSync(path, JSON.stringify(base));
    expect(loadConfig(path).secretFile).to.equal(join(dir, 'secret'));
  });

  it('names the file when it is missing or not JSON, and the field when a value is bad', () => {
    expect(() => loadConfig(join(dir, 'missing.json'))).to.throw(ConfigError, /missing\.json/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(() => loadConfig(bad)).to.throw(ConfigError, /bad\.json/);
    const badField = join(dir, 'field.json');
    writeFileSync(badField, JSON.stringify({ ...base, suspectAfter: 'two' }));
    try {
      loadConfig(badField);
      expect.fail('should throw');
    } catch (err) {
      expect((err as ConfigError).field).to.equal('suspectAfter');
      expect((err as Error).message).to.match(/"suspectAfter".*field\.json/);
    }
  });
});
