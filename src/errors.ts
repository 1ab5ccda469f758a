/**
 * The one error type the domain throws: a stable `code` for programs, an HTTP status, and a
 * message a person can act on. The HTTP error handler maps it; anything else is a 500.
 */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) =>
  new AppError(404, 'not_found', `${what} "${id}" does not exist`);
export const conflict = (code: string, message: string, details?: unknown) =>
  new AppError(409, code, message, details);
export const badRequest = (code: string, message: string, details?: unknown) =>
  new AppError(400, code, message, details);
