// The documentation stands alone (issue 18 §8): README.md and every page under docs/ link only to
// files in the repository, every such link (and its #anchor) resolves, and no page sends readers
// to documents a clone does not have (the team's SPEC/DESIGN notes live outside the repository).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const PAGES = [
  'README.md',
  'bench/README.md',
  'certs/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes. */
function anchorsOf(markdown: string): Set<string> {
  const out = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    if (inFence) continue;
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (m === null) continue;
    const slug = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    out.add(slug);
  }
  return out;
}

/** Markdown links `[text](target)` outside code fences and inline code. */
function linksOf(markdown: string): string[] {
  const out: string[] = [];
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    if (inFence) continue;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1]!);
  }
  return out;
}

test('README and docs link only to files in the repository, and every link and anchor resolves', () => {
  const problems: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    const path = join(ROOT, page);
    if (!existsSync(path)) continue;
    for (const link of linksOf(readFileSync(path, 'utf8'))) {
      if (/^(https?|mailto):/.test(link)) continue;
      checked++;
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file === '' ? path : resolve(dirname(path), file);
      if (relative(ROOT, target).startsWith('..')) {
        problems.push(`${page}: ${link} leaves the repository`);
        continue;
      }
      if (!existsSync(target)) {
        problems.push(`${page}: ${link} does not exist`);
        continue;
      }
      if (anchor !== undefined && anchor !== '' && target.endsWith('.md') && statSync(target).isFile() && !anchorsOf(readFileSync(target, 'utf8')).has(anchor)) {
        problems.push(`${page}: ${link} has no heading #${anchor}`);
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked > 30, `only ${checked} links checked: is the link pattern still right?`);
});

test('no page sends readers to documents outside the repository (SPEC.md, DESIGN.md, DOMAIN.md, "the shared folder")', () => {
  const problems: string[] = [];
  for (const page of PAGES) {
    const path = join(ROOT, page);
    if (!existsSync(path)) continue;
    readFileSync(path, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/\b(SPEC|DESIGN|DOMAIN)(\.md)?\b|shared folder|\.\.\/shared\//.test(line)) problems.push(`${page}:${i + 1}: ${line.trim().slice(0, 100)}`);
      });
  }
  assert.deepEqual(problems, []);
});
