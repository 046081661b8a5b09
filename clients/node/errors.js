// The error every call of the package throws for a failure of its own (index.js).

/** A failure whose `code` says what went wrong (the codes of `tokensync tokens get`, mostly). */
export class TokensyncError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "TokensyncError";
    this.code = code;
    // Worth trying again shortly: a refresh not done yet.
    this.retryable = code === "retry";
  }
}
