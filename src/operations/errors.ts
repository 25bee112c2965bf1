/** Why an operation on a job was not done: the API answers these as 404 and 409, the CLI as exit codes 5 and 3. */

/** No such job (or step). */
export class NotFoundError extends Error {
  readonly code = 'not_found';
}

/** The job's state does not allow the operation; the message says why and what to do instead. */
export class OperationRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
