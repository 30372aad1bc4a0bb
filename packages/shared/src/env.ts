/**
 * Reading configuration from an environment: each app declares its fields with these readers, every
 * problem is collected, and start-up fails once with the whole list (never one problem per restart).
 */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Parses a JSON configuration document (a keys file, a clients file); bad JSON is a ConfigError. */
export function parseJsonDocument(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError([`${where} is not valid JSON`]);
  }
}

export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  /** The raw value, with empty strings treated as unset. */
  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  required(name: string, why = 'is required'): string {
    const value = this.raw(name);
    if (value === undefined) this.problems.push(`${name} ${why}`);
    return value ?? '';
  }

  int(name: string, fallback: number, range: { min: number; max: number }): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < range.min || parsed > range.max) {
      this.problems.push(`${name} must be an integer from ${range.min} to ${range.max} (got "${value}")`);
      return fallback;
    }
    return parsed;
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, { min: 0, max: 65535 });
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    this.problems.push(`${name} must be true or false (got "${value}")`);
    return fallback;
  }

  list(name: string): string[] {
    const value = this.raw(name);
    return value === undefined
      ? []
      : value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0);
  }

  url(name: string, fallback: string): URL;
  url(name: string): URL | undefined;
  url(name: string, fallback?: string): URL | undefined {
    const value = this.raw(name) ?? fallback;
    if (value === undefined) return undefined;
    try {
      const url = new URL(value);
      if (
        url.protocol !== 'http:' &&
        url.protocol !== 'https:' &&
        url.protocol !== 'redis:' &&
        url.protocol !== 'rediss:'
      ) {
        this.problems.push(`${name} must be an http(s) or redis URL (got "${value}")`);
      }
      return url;
    } catch {
      this.problems.push(`${name} must be a URL (got "${value}")`);
      return fallback === undefined ? undefined : new URL(fallback);
    }
  }

  /** A browser origin (`scheme://host[:port]`), with no path. */
  origin(name: string, value: string): string {
    try {
      const url = new URL(value);
      if (url.origin === 'null' || (url.pathname !== '/' && url.pathname !== ''))
        throw new Error('not an origin');
      return url.origin;
    } catch {
      this.problems.push(`${name}: "${value}" is not an origin like https://app.example.com`);
      return value;
    }
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws one ConfigError listing every problem, if there were any. */
  finish(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
