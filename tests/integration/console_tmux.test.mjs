// The interactive console client in a real terminal (tmux): prompt, tab completion, history
// (in-session and in ~/.event_router_history), multi-line Lua, Ctrl-C ending a tail but not the
// client. The server is test_console --serve: the real console on a fake engine backend.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const bin = process.env.EVENT_ROUTER_BIN;
const testConsole = bin ? join(dirname(bin), 'tests', 'test_console') : '';
let hasTmux = true;
try {
  execFileSync('tmux', ['-V']);
} catch {
  hasTmux = false;
}
const skip = !hasTmux ? 'tmux not installed' : !existsSync(testConsole) ? 'test_console not built' : false;

const tmuxServer = `console-test-${process.pid}`;
const tmux = (...args) => execFileSync('tmux', ['-L', tmuxServer, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'c');
const type = (text) => tmux('send-keys', '-t', 'c', '-l', text); // -l: "end" is not the End key
const press = (...keys) => tmux('send-keys', '-t', 'c', ...keys);

async function waitForScreen(predicate, what, ms = 5000) {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    last = screen();
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}; screen:\n${last}`);
}

const count = (text, needle) => text.split(needle).length - 1;

let dir, server;
before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'console-tmux-'));
  const sock = join(dir, 's.sock');
  server = spawn(testConsole, ['--serve', sock], { stdio: 'ignore' });
  const deadline = Date.now() + 5000;
  while (!existsSync(sock) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  tmux('new-session', '-d', '-s', 'c', '-x', '160', '-y', '60',
    `env HOME=${dir} TERM=xterm ${testConsole} --client --socket ${sock}; echo CLIENT-EXITED=$?; sleep 60`);
});

after(() => {
  if (skip) return;
  try {
    tmux('kill-server');
  } catch {}
  server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

test('interactive console in a terminal', { skip }, async () => {
  await waitForScreen((s) => s.includes('event-router>'), 'the prompt');

  type('stats');
  press('Enter');
  await waitForScreen((s) => s.includes('"events_total": 42'), 'stats output');

  // Tab completes a command name.
  type('proc');
  press('Tab');
  await waitForScreen((s) => s.includes('event-router> processors'), 'completion of "proc"');
  press('Enter');
  await waitForScreen((s) => s.includes('"delivered":'), 'processors output');

  // Up recalls the previous command.
  press('Up');
  await waitForScreen((s) => s.trimEnd().endsWith('event-router> processors'), 'history recall');
  press('Enter');
  await waitForScreen((s) => count(s, '"delivered":') === 2, 'the recalled command run again');

  // An unfinished Lua block continues on a "... " prompt and goes as one request.
  type('function f()');
  press('Enter');
  await waitForScreen((s) => s.trimEnd().endsWith('...'), 'the continuation prompt');
  type('return 1');
  press('Enter');
  type('end');
  press('Enter');
  await waitForScreen((s) => s.includes('lua: function f()'), 'the block evaluated');

  // Ctrl-C ends a tail, not the client.
  type('tail');
  press('Enter');
  await waitForScreen((s) => s.includes('tailing;'), 'the tail');
  press('C-c');
  type('log-level');
  press('Enter');
  await waitForScreen((s) => s.includes('log level info'), 'a command after the tail');
  assert.ok(!screen().includes('CLIENT-EXITED'), 'Ctrl-C killed the client');

  // A failing command shows its error; Ctrl-D ends the client and history is saved.
  type('show nope');
  press('Enter');
  await waitForScreen((s) => s.includes('error: no recent event with id nope'), 'the error');
  press('C-d');
  await waitForScreen((s) => s.includes('CLIENT-EXITED='), 'the client to exit');
  const history = readFileSync(join(dir, '.event_router_history'), 'utf8');
  assert.match(history, /^stats$/m);
  assert.match(history, /^processors/m);
  assert.match(history, /^log-level$/m);
});
