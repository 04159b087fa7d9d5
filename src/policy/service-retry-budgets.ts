/**
 * The retry budget of each service of a mesh, shared by everything that retries calls to it: its
 * HTTP client's retry filter and its grpcClients. A budget bounds the extra load retries put on a
 * service, and that load is the same whichever protocol carries the retries; a budget per client
 * would let each one add its own share (Finagle and Linkerd likewise keep one budget per destination).
 *
 * A config reload rebuilds a service's client; if the budget settings are unchanged the new client
 * keeps the budget, with the requests and retries it has recorded, so a reload cannot refill an
 * exhausted budget. Changed settings start a new budget.
 */
import { PerService } from './per-service.js';
import type { Clock } from '../core/clock.js';
import { RETRY_DEFAULTS, type RetryBudgetPolicy } from '../core/policy.js';
import { RetryBudget } from './retry-budget.js';

export class ServiceRetryBudgets {
  readonly #clock: Clock;
  readonly #budgets = new PerService<RetryBudget>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The budget of `service` for these settings: the one it has if they are unchanged, else a new one. */
  budgetFor(service: string, policy: RetryBudgetPolicy = {}): RetryBudget {
    return this.#budgets.get(service, (held) => hasSettings(held, policy), () => new RetryBudget(policy, this.#clock));
  }
}

function hasSettings(budget: RetryBudget, policy: RetryBudgetPolicy): boolean {
  const defaults = RETRY_DEFAULTS.budget;
  return (
    budget.retryRatio === (policy.retryRatio ?? defaults.retryRatio) &&
    budget.minRetriesPerSecond === (policy.minRetriesPerSecond ?? defaults.minRetriesPerSecond) &&
    budget.ttlMs === (policy.ttlMs ?? defaults.ttlMs)
  );
}
