/** The service's version, reported by `/health` and in the node registry. */
export const VERSION = "0.1.0";
