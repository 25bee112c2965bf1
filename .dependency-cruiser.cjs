/**
 * The dependency direction (README "Layout"), enforced in `npm run lint`:
 *   src/core  ←  workflows  ←  approvals        (approvals use only workflows/messages.ts)
 *   src/core  ←  activities
 *   src/ (the composition root, API, CLI, stores)  →  everything above
 * Type-only imports count: a type import is still a dependency a reader has to follow.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-is-self-contained',
      comment: 'src/core is the vocabulary: it imports nothing of ours outside itself.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^(src/(?!core/)|workflows/|activities/|approvals/|bench/|scripts/|test/)' },
    },
    {
      name: 'workflows-import-only-core',
      comment:
        'Workflow code is deterministic orchestration: it sees the vocabulary and activity contracts in src/core.',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^(src/(?!core/)|activities/|approvals/|bench/|scripts/|test/)' },
    },
    {
      name: 'activities-import-only-core',
      comment:
        'Activities receive their dependencies (audit sink, metrics, policy, clients) from the composition root.',
      severity: 'error',
      from: { path: '^activities/' },
      to: { path: '^(src/(?!core/)|workflows/|approvals/|bench/|scripts/|test/)' },
    },
    {
      name: 'approvals-import-core-and-workflow-messages',
      comment:
        'Channels receive people, audit and clients from the composition root; they speak to jobs through workflows/messages.ts.',
      severity: 'error',
      from: { path: '^approvals/' },
      to: { path: '^(src/(?!core/)|activities/|workflows/(?!messages\\.ts$)|bench/|scripts/|test/)' },
    },
    {
      name: 'production-does-not-import-tests-or-bench',
      severity: 'error',
      from: { path: '^(src|workflows|activities|approvals)/' },
      to: { path: '^(bench|scripts|test)/' },
    },
    {
      name: 'production-does-not-import-dev-dependencies',
      comment: 'The built code runs without devDependencies (npm ci --omit=dev): e.g. @temporalio/testing, tsx.',
      severity: 'error',
      from: { path: '^(src|workflows|activities|approvals)/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-circular',
      comment: 'No module cycles (type-only cycles between the vocabulary files of src/core are allowed).',
      severity: 'error',
      from: { pathNot: '^src/core/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|\\.tools|bench/results)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
