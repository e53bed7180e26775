/**
 * The logging calls paystream's code makes: pino's shape (an object, then a message), so a pino
 * logger (Fastify's `app.log`) is one, and tests can pass a silent one.
 */
export interface Logger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};
