import { describe, expect, it } from 'vitest';
import { ConfigError, EnvReader } from '../src/env.js';

describe('EnvReader', () => {
  it('collects every problem into one error', () => {
    const env = new EnvReader({ A: 'x', B: 'maybe', C: 'not a url' });
    env.int('A', 1, { min: 0, max: 10 });
    env.bool('B', false);
    env.url('C');
    env.required('D');
    expect(() => env.finish()).toThrow(ConfigError);
    try {
      env.finish();
    } catch (error) {
      expect((error as ConfigError).problems).toHaveLength(4);
      expect((error as ConfigError).message).toContain('D is required');
    }
  });
  it('passes a valid environment', () => {
    const env = new EnvReader({ A: '5', B: 'true', L: 'a, b,,c' });
    expect(env.int('A', 1, { min: 0, max: 10 })).toBe(5);
    expect(env.bool('B', false)).toBe(true);
    expect(env.list('L')).toEqual(['a', 'b', 'c']);
    expect(() => env.finish()).not.toThrow();
  });
});
