/**
 * Structured JSON logs (pino) for Airlock and for the Temporal runtime. Credentials are redacted by key name.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import pino from 'pino';

export const REDACT_PATHS = ['*.authorization', '*.Authorization', '*.token', '*.secret', '*.password', 'headers.*'];

export function createLogger(level: string = process.env.AIRLOCK_LOG_LEVEL ?? 'info') {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination(2));
}

const TEMPORAL_LEVELS: Record<string, LogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
};

/** Routes the Temporal SDK's logs (worker, activities, workflows) through pino. Call once per process. */
export function installTemporalLogger(logger: pino.Logger, level = 'warn') {
  Runtime.install({
    logger: new DefaultLogger(TEMPORAL_LEVELS[level] ?? 'WARN', (entry) => {
      const { message, meta } = entry;
      const fn =
        entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : entry.level === 'INFO' ? 'info' : 'debug';
      logger[fn]({ ...meta, component: 'temporal' }, message);
    }),
  });
}
