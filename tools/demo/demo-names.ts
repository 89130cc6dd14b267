/**
 * Names of what the demo creates on the PostgreSQL server. Roles are cluster-wide, so a test run
 * beside a demo (or beside another test) gives a suffix and never meets their roles.
 */
export interface DemoNames {
  /** Appended to every role and database name, and to the identity template. */
  suffix: string;
  /** Latch's own database: requests, grants, the audit trail. */
  latchDatabase: string;
  /**
   * The role Latch runs as: not the tables' owner (the superuser migrates), with exactly the
   * privileges of prisma/app-role.sql, as the README tells operators to run it.
   */
  appRole: string;
  /** The database holding the table the granted role may read. */
  targetDatabase: string;
  /** The role Latch hands out for a while. */
  readRole: string;
  /** The role support engineers are lent, narrowed to the customers they ask for (row-level scopes). */
  supportRole: string;
  /** The role Latch connects as to grant and revoke readRole (never a superuser). */
  grantorRole: string;
}

export function demoNames(suffix = ''): DemoNames {
  return {
    suffix,
    latchDatabase: `latch_demo${suffix}`,
    appRole: `latch_demo_app${suffix}`,
    targetDatabase: `latch_demo_analytics${suffix}`,
    readRole: `analytics_read${suffix}`,
    supportRole: `support_read${suffix}`,
    grantorRole: `latch_demo_grantor${suffix}`,
  };
}
