#!/usr/bin/env node
/** Entry point of the `users` CLI (see `users-command.ts`). */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { runUsersCommand } from './users-command.js';

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let data = '';
    for await (const chunk of process.stdin) data += String(chunk);
    return data.replace(/\r?\n$/, '');
  }
  // Prompt without echo: the terminal shows the prompt, not the typed characters.
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  process.stderr.write('Password: ');
  muted = true;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

process.exitCode = await runUsersCommand(process.argv.slice(2), {
  env: process.env,
  readPassword,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
