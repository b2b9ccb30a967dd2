// Errors with a stable `code` (and `field` for configuration mistakes).

export class CommyError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'CommyError';
    this.code = code;
  }
}

/** A bad configuration value. `field` is the path of the offending field. */
export class ConfigError extends CommyError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('ERR_CONFIG', `config field "${field}": ${message}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

export function invalidArg(message: string): CommyError {
  return new CommyError('ERR_INVALID_ARG', message);
}
