/**
 * What a command-line view writes to and reads from, so that each command is a function of its
 * options and this (the binary passes the process's streams; tests read the same output).
 */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is a terminal (top redraws in place only there). */
  readonly isTTY: boolean;
  /** Fires on Ctrl-C. */
  readonly interrupted: AbortSignal;
}
