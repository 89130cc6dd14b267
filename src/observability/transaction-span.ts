import { SpanKind } from '@opentelemetry/api';
import { inSpan } from './tracer.ts';

/**
 * A CLIENT span around one PostgreSQL transaction (store/transaction.ts), from waiting for a
 * connection to COMMIT: where a request's time goes when the pool or a row lock makes it wait.
 * No statement text: the rows' values are people's requests.
 */
export function inTransactionSpan<T>(work: () => Promise<T>): Promise<T> {
  return inSpan('db transaction', { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.operation.name': 'transaction' } }, work);
}
