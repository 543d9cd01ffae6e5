/**
 * The error a rules file that cannot be loaded raises.
 *
 * @module
 */

/**
 * Thrown when the rules cannot be loaded: a file cannot be read, is not YAML, or breaks a rule of
 * the format. {@linkcode RulesError.issues} holds every problem found, each naming the file, the
 * document and the path inside it, e.g.
 * `rules.yaml, document 2, descriptors[0].rate_limit.unit: ...`.
 */
export class RulesError extends Error {
  /** One entry per problem, in file order. */
  readonly issues: string[];
  /** An error listing `issues`. */
  constructor(issues: string[]) {
    super(`Invalid rules: ${issues.join("; ")}`);
    this.name = "RulesError";
    this.issues = issues;
  }
}
