// When the server could not store a send for now (a fault, not a refusal: `storage_unavailable`,
// docs/protocol.md#faults) the message stays queued and goes again later, on the same
// socket, with the same client id (stored once). The wait starts at the server's hint
// (`retry_after_ms`), doubles with each further fault of the same message up to a cap,
// and is jittered so a whole floor of phones does not resend in the same instant. Pure:
// the random source is passed in, so `node --test` checks the rule.

/** Error codes that mean "not stored, send the same thing again later". */
export const RETRYABLE_CODES = Object.freeze(new Set(["storage_unavailable"]));

export const DEFAULT_RETRY_MS = 2000;
export const MAX_RETRY_MS = 30000;

/** The wait before resending after the `attempt`-th fault (1 = the first) of one message. */
export function resendDelay(frame, attempt, random = Math.random) {
  const hint = Number.isFinite(frame.retry_after_ms) && frame.retry_after_ms > 0
    ? frame.retry_after_ms : DEFAULT_RETRY_MS;
  const base = Math.min(hint * 2 ** Math.max(0, attempt - 1), MAX_RETRY_MS);
  return Math.round(base * (0.75 + random() / 2));
}

/** An error frame answering one of my pending sends (store.js `error`): a refusal marks
 * it failed, said beside it and in the notice (the outbox lets it go, except after
 * rate_limited); a fault keeps it queued and asks for a resend later (`resendLater`,
 * whose wait is `resendDelay(frame, attempt)`), the notice shown on the first fault
 * only. Returns the effects. */
export function sendFailed(pending, frame) {
  const clientId = frame.ref;
  const notice = { kind: "error", frame };
  if (RETRYABLE_CODES.has(frame.code)) {
    pending.state = "queued";
    pending.error = null;
    pending.attempts = (pending.attempts || 0) + 1;
    const resend = { kind: "resendLater", clientId, frame, attempt: pending.attempts };
    return [{ kind: "pending", clientId }, resend, ...(pending.attempts === 1 ? [notice] : [])];
  }
  pending.state = "failed";
  pending.error = frame;
  const forget = frame.code === "rate_limited" ? [] : [{ kind: "forget", clientId }];
  return [{ kind: "pending", clientId }, ...forget, notice];
}

/** The wait before reconnecting after close 1012 (the node restarts or drains): short and
 * jittered, to another node behind the load balancer, not the growing backoff. */
export function restartDelay(frameOrReason, random = Math.random) {
  const hint = frameOrReason && Number.isFinite(frameOrReason.retry_after_ms)
    ? frameOrReason.retry_after_ms : 500;
  return Math.round(Math.min(hint, 5000) * (0.5 + random()));
}
