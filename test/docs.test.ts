// The README and docs/*.md must not point at files or headings that do not exist: every relative
// link is resolved against the checkout, and every #anchor against the headings of its target.
import { expect } from 'chai';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/docs.test.js -> the repository root
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Relative Markdown links `[text](target)` outside code fences and inline code. */
function linksOf(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z]+:/i.test(m[1])) out.push(m[1]);
    }
  }
  return out;
}

/** The links of `text` (the content of `file`) that point at no file or no heading. */
function brokenLinks(file: string, text = readFileSync(file, 'utf8')): string[] {
  const broken: string[] = [];
  for (const link of linksOf(text)) {
    const [path, anchor] = link.split('#', 2);
    const target = path ? join(dirname(file), path) : file;
    if (!existsSync(target)) {
      broken.push(`${link} (no file ${relative(root, target)})`);
      continue;
    }
    if (!anchor || !target.endsWith('.md')) continue;
    if (!anchorsOf(target === file ? text : readFileSync(target, 'utf8')).has(anchor))
      broken.push(`${link} (no heading #${anchor} in ${relative(root, target)})`);
  }
  return broken;
}

describe('documentation links', () => {
  const files = [
    join(root, 'README.md'),
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join(root, 'docs', f)),
  ];

  for (const file of files) {
    it(`${relative(root, file)}: every relative link names an existing file and heading`, () => {
      expect(brokenLinks(file)).to.deep.equal([]);
    });
  }

  it('reports a link to a missing file, to a missing heading, and to a missing heading of another doc', () => {
    const text = [
      '# Title',
      '## Exit codes',
      '[ok](docs/REGION.md) [ok](#exit-codes) [ok](docs/ARCHITECTURE.md#layers) [web](https://example.com)',
      '[gone](docs/NOPE.md) [gone](#no-such-heading) [gone](docs/ARCHITECTURE.md#no-such-heading)',
      '`[in code](not-a-link.md)`',
      '```',
      '[in a fence](also-not-a-link.md)',
      '```',
    ].join('\n');
    expect(brokenLinks(join(root, 'README.md'), text)).to.deep.equal([
      'docs/NOPE.md (no file docs/NOPE.md)',
      '#no-such-heading (no heading #no-such-heading in README.md)',
      'docs/ARCHITECTURE.md#no-such-heading (no heading #no-such-heading in docs/ARCHITECTURE.md)',
    ]);
    expect(anchorsOf('## Exit codes\n## Exit codes\n')).to.deep.equal(new Set(['exit-codes', 'exit-codes-1']));
  });
});

describe('the README config examples', () => {
  it('every JSON config in the README is one parseConfig accepts', async () => {
    const { parseConfig } = await import('../lib/registry/config.js');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)]
      .map((m) => m[1].replace(/^ {2}/gm, ''))
      .filter((b) => b.trimStart().startsWith('{"cluster"'));
    expect(blocks.length, 'config examples found').to.be.at.least(3);
    for (const b of blocks) expect(() => parseConfig(b), b).to.not.throw();
  });
});
