import { expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script of the repository, no declarations
import { unsupportedNode } from '../../../scripts/require-node-24.mjs';

it('the test process itself runs on Node.js 24 or later', () => {
  expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  expect(unsupportedNode()).toBeUndefined();
});

it('names an older Node.js as unsupported, and accepts 24 and later', () => {
  expect(unsupportedNode('v20.20.2')).toMatch(/^Node\.js v20\.20\.2 is not supported \(24 or later is\)/);
  expect(unsupportedNode('v22.22.0')).toBeDefined();
  expect(unsupportedNode('v24.0.0')).toBeUndefined();
  expect(unsupportedNode('v26.1.0')).toBeUndefined();
});
