/**
 * The one set of `Deno.test` options shared by tests.
 *
 * @module
 */

/**
 * Options for tests that start servers, child processes or Redis connections whose timers and
 * sockets may outlive the test body (node-redis reconnects, keep-alive fetches): Deno's op and
 * resource sanitizers are off. Spread it into a test definition: `Deno.test({ ...integration, … })`.
 */
export const integration = { sanitizeOps: false, sanitizeResources: false } as const;
