/**
 * Which media a signed-in user may get tokens for (CONTRACT.md, Entitlement): `catalog/` for everyone,
 * `users/<own id>/` for its owner, nothing else.
 *
 * Policy as data: each rule names the prefixes it grants to a subject, and a request is allowed when one
 * granted prefix covers it. A new kind of access (a shared playlist, an admin-only area) is one more rule
 * in the list, not an `if` in a route; `GET /media/library` lists exactly the prefixes the rules grant, so
 * the library can never show something a token would then be refused for.
 */
import { keyIsUnderPrefix, validateKeyPrefix } from '@stagedoor/shared/keys';
import type { MediaGrant } from '@stagedoor/shared/tokens';

export interface EntitlementSubject {
  userId: string;
  role: string;
}

export interface EntitlementRule {
  /** Shown in logs when it decides. */
  name: string;
  /** Key prefixes (each ending in `/`) the rule grants this subject. */
  prefixes(subject: EntitlementSubject): readonly string[];
}

export const catalogForEveryone: EntitlementRule = {
  name: 'catalog-for-everyone',
  prefixes: () => ['catalog/'],
};

export const ownPrivateArea: EntitlementRule = {
  name: 'own-private-area',
  // One segment only: an id with a "/" would name someone else's sub-area.
  prefixes: (subject) => (subject.userId.includes('/') ? [] : [`users/${subject.userId}/`]),
};

export const DEFAULT_MEDIA_RULES: readonly EntitlementRule[] = [catalogForEveryone, ownPrivateArea];

export interface MediaEntitlementPolicy {
  /** Every prefix the subject is entitled to, deduplicated, each a valid key prefix. */
  prefixesFor(subject: EntitlementSubject): string[];
  /** The rule that allows the grant, or null when none does. */
  allows(subject: EntitlementSubject, grant: MediaGrant): EntitlementRule | null;
}

/** True when `prefix` grants everything `grant` asks for. */
function covers(prefix: string, grant: MediaGrant): boolean {
  if (grant.kind === 'key') return keyIsUnderPrefix(grant.key, prefix);
  return grant.prefix === prefix || keyIsUnderPrefix(grant.prefix, prefix);
}

export function createMediaEntitlementPolicy(
  rules: readonly EntitlementRule[] = DEFAULT_MEDIA_RULES,
): MediaEntitlementPolicy {
  // A prefix that breaks the key rules (a user id with a "/" or "..") grants nothing rather than
  // something unintended.
  const validPrefixes = (rule: EntitlementRule, subject: EntitlementSubject) =>
    rule.prefixes(subject).filter((p) => validateKeyPrefix(p).ok);
  return {
    prefixesFor(subject) {
      return [...new Set(rules.flatMap((rule) => validPrefixes(rule, subject)))];
    },
    allows(subject, grant) {
      return rules.find((rule) => validPrefixes(rule, subject).some((p) => covers(p, grant))) ?? null;
    },
  };
}
