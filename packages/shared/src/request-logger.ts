/**
 * Per-request loggers made on first use (issue 15). Fastify gives every request a child of the app's pino
 * logger bound to its `reqId`; making one runs pino's redaction over the bindings (the redact paths have
 * wildcards), which on a signed-in read at `LOG_LEVEL=warn` cost more than the route's own work, for a
 * logger that writes nothing. `lazyRequestLoggers` is a Fastify `childLoggerFactory` whose loggers create
 * that same child the first time a line is written at an enabled level (or a child of it is asked for,
 * or its level is set), so every line still carries `reqId` and passes the same redaction and serializers.
 */
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

type ChildLoggerFactory = NonNullable<FastifyServerOptions['childLoggerFactory']>;

type Bindings = Record<string, unknown>;
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];
type LogArgs = Parameters<FastifyBaseLogger['info']>;

export class LazyRequestLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger & { isLevelEnabled(level: string): boolean },
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  /** The real child logger, made now if it was not yet. */
  get logger(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }

  /** Whether the child has been made (tests). */
  get materialized(): boolean {
    return this.#child !== undefined;
  }

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return this.#child
      ? (this.#child as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(level)
      : this.parent.isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }

  fatal(...args: LogArgs): void {
    if (this.isLevelEnabled('fatal')) this.logger.fatal(...args);
  }
  error(...args: LogArgs): void {
    if (this.isLevelEnabled('error')) this.logger.error(...args);
  }
  warn(...args: LogArgs): void {
    if (this.isLevelEnabled('warn')) this.logger.warn(...args);
  }
  info(...args: LogArgs): void {
    if (this.isLevelEnabled('info')) this.logger.info(...args);
  }
  debug(...args: LogArgs): void {
    if (this.isLevelEnabled('debug')) this.logger.debug(...args);
  }
  trace(...args: LogArgs): void {
    if (this.isLevelEnabled('trace')) this.logger.trace(...args);
  }
  silent(..._args: LogArgs): void {}
}

/**
 * The factory: a lazy logger for a pino parent; what Fastify would make otherwise (a route with its own
 * `logLevel` gets its child at once, and a logger without `isLevelEnabled` is left to itself).
 */
export const lazyRequestLoggers: ChildLoggerFactory = (logger, bindings, options) => {
  const parent = logger as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  if (typeof parent.isLevelEnabled !== 'function' || options.level !== undefined) {
    return logger.child(bindings, options);
  }
  return new LazyRequestLogger(
    parent as FastifyBaseLogger & { isLevelEnabled(level: string): boolean },
    bindings,
    options,
  ) as unknown as FastifyBaseLogger;
};
