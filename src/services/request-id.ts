const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether `id` can name a request at all (ids are uuids, which PostgreSQL refuses to compare with
 * anything else). Use cases ask this instead of catching the lookup's error: that would also turn
 * a database that is down into "this request no longer exists", which is not true.
 */
export function isRequestId(id: string): boolean {
  return UUID.test(id);
}
