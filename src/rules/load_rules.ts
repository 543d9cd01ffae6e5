/**
 * Reads the rules from disk: one file, or every `*.yaml` / `*.yml` file of a directory in name
 * order, and parses them into one {@linkcode RuleSet}.
 *
 * @module
 */
import { join } from "node:path";
import { parseRules, type RulesSource } from "./parse_rules.ts";
import { RulesError } from "./rules_error.ts";
import type { RuleSet } from "./types.ts";

/** Largest rules file read, in bytes: a bigger one is refused rather than parsed. */
export const MAX_RULES_FILE_BYTES = 16 * 1024 * 1024;

const RULES_FILE = /\.ya?ml$/;

/**
 * The rules files at `path`: the file itself, or the `*.yaml` and `*.yml` files directly in the
 * directory (no subdirectories, hidden files skipped), sorted by name. Throws a
 * {@linkcode RulesError} naming the path when it cannot be read.
 */
export async function readRulesSources(path: string): Promise<RulesSource[]> {
  let names: string[];
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      names = [];
      for await (const entry of Deno.readDir(path)) {
        if (entry.name.startsWith(".") || !RULES_FILE.test(entry.name)) continue;
        if (entry.isFile || entry.isSymlink) names.push(join(path, entry.name));
      }
      names.sort();
    } else names = [path];
  } catch (error) {
    throw new RulesError([`${path}: cannot read the rules: ${messageOf(error)}`]);
  }
  const sources: RulesSource[] = [];
  const issues: string[] = [];
  for (const name of names) {
    try {
      const info = await Deno.stat(name);
      if (!info.isFile) continue; // e.g. a symlink to a directory
      if (info.size > MAX_RULES_FILE_BYTES) {
        issues.push(
          `${name}: the file is ${info.size} bytes, larger than ${MAX_RULES_FILE_BYTES}`,
        );
        continue;
      }
      sources.push({ name, text: await Deno.readTextFile(name) });
    } catch (error) {
      issues.push(`${name}: cannot read the rules: ${messageOf(error)}`);
    }
  }
  if (issues.length > 0) throw new RulesError(issues);
  return sources;
}

/**
 * Reads and parses the rules at `path` (see {@linkcode readRulesSources}). Throws a
 * {@linkcode RulesError} listing every problem when they cannot be loaded.
 */
export async function loadRules(path: string): Promise<RuleSet> {
  return parseRules(await readRulesSources(path));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
