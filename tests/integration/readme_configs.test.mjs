// Every RouterConfig shown in the README must be one the router accepts: each ```yaml block
// holding `kind: RouterConfig` is written to a file and passed to check-config.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTmpDir, runBinary, SOURCE_DIR } from './lib.mjs';

function routerConfigBlocks(markdown) {
  const blocks = [];
  const fence = /^```ya?ml[^\n]*\n([\s\S]*?)^```/gm;
  for (const m of markdown.matchAll(fence)) {
    const line = markdown.slice(0, m.index).split('\n').length;
    if (/^kind:\s*RouterConfig\s*$/m.test(m[1])) blocks.push({ yaml: m[1], line });
  }
  return blocks;
}

const readme = path.join(SOURCE_DIR, 'README.md');
const dir = makeTmpDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the README has RouterConfig examples', () => {
  assert.ok(fs.existsSync(readme), `${readme} is missing`);
  assert.ok(routerConfigBlocks(fs.readFileSync(readme, 'utf8')).length >= 1, 'no ```yaml block with kind: RouterConfig');
});

const blocks = fs.existsSync(readme) ? routerConfigBlocks(fs.readFileSync(readme, 'utf8')) : [];
for (const [i, block] of blocks.entries()) {
  test(`README.md:${block.line}: check-config accepts the RouterConfig`, async () => {
    const file = path.join(dir, `readme-${i + 1}-line-${block.line}.yaml`);
    fs.writeFileSync(file, block.yaml);
    const r = await runBinary(['check-config', file]);
    assert.equal(r.code, 0, `check-config rejected the block at README.md:${block.line}:\n${r.stderr}`);
    assert.equal(r.stdout.trim(), `${file}: OK`);
  });
}
