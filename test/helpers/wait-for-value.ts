/**
 * Asks `find` until it gives a value (anything but null or undefined), or fails after `timeoutMs`:
 * for what a running `latch start` does in its own time (a grant, a revocation, a message).
 */
export async function waitForValue<T>(find: () => Promise<T | undefined | null>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await find();
    if (value !== undefined && value !== null) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
